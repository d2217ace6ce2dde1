"""Label and field selectors as the apiserver parses and matches them.

Parsing follows apimachinery's `labels.Parse` and `fields.ParseSelector` closely enough that error
text, accepted syntax and matching agree with a real cluster; field labels are the per-kind sets the
apiserver supports (`pkg/apis/core/v1/conversion.go`, the registries' `ToSelectableFields`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Operators, spelled as apimachinery's `selection.Operator` values.
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_ALL_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN)


class SelectorError(ValueError):
    """A selector the apiserver would reject; the message is worded as Kubernetes words it."""


# ---------------------------------------------------------------------------------------------
# Validation of label keys and values (apimachinery util/validation)

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_RE = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    # Same shape as apimachinery's RegexError, double space before "or" included, so messages
    # match what users find when they search for them.
    text = message + " (e.g. "
    text += " or ".join(f"'{example}', " for example in examples)
    return text + f"regex used for validation is '{fmt}')"


def _qualified_name_errors(value: str) -> list[str]:
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errors.append("prefix part must be no more than 253 characters")
            if not _DNS1123_SUBDOMAIN_RE.match(prefix):
                errors.append(
                    "prefix part " + _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")
                )
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME_RE.match(name):
        errors.append(
            "name part " + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def _label_value_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.match(value):
        errors.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def _go_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_string_slice(values: Iterable[str]) -> str:
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"


def _invalid(field: str, bad_value: str, detail: str) -> str:
    return f"{field}: Invalid value: {bad_value}: {detail}"


def _aggregate(errors: list[str]) -> str:
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _key_error(key: str, field: str) -> str | None:
    errors = _qualified_name_errors(key)
    return _invalid(field, _go_quote(key), "; ".join(errors)) if errors else None


def _requirement_errors(key: str, operator: str, values: tuple[str, ...]) -> list[str]:
    """What apimachinery's NewRequirement rejects, with its field paths ("key", "values[0][k]")."""
    errors: list[str] = []
    if (err := _key_error(key, "key")) is not None:
        errors.append(err)
    if operator in (IN, NOT_IN):
        if not values:
            errors.append(
                _invalid("values", _go_string_slice(values), "for 'in', 'notin' operators, values set can't be empty")
            )
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(values) != 1:
            errors.append(
                _invalid("values", _go_string_slice(values), "exact-match compatibility requires one single value")
            )
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if values:
            errors.append(
                _invalid("values", _go_string_slice(values), "values set must be empty for exists and does not exist")
            )
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errors.append(
                _invalid("values", _go_string_slice(values), "for 'Gt', 'Lt' operators, exactly one value is required")
            )
        for index, value in enumerate(values):
            if _parse_int64(value) is None:
                errors.append(
                    _invalid(f"values[{index}]", _go_quote(value), "for 'Gt', 'Lt' operators, the value must be an integer")
                )
    else:
        supported = ", ".join(_go_quote(op) for op in _ALL_OPERATORS)
        errors.append(f"operator: Unsupported value: {_go_quote(operator)}: supported values: {supported}")
    for index, value in enumerate(values):
        value_errors = _label_value_errors(value)
        if value_errors:
            errors.append(_invalid(f"values[{index}][{key}]", _go_quote(value), "; ".join(value_errors)))
    return errors


def _parse_int64(text: str) -> int | None:
    # strconv.ParseInt(s, 10, 64): optional sign, decimal digits only, 64-bit range.
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


# ---------------------------------------------------------------------------------------------
# Label selectors


@dataclass(frozen=True)
class Requirement:
    """One clause of a selector: `key operator values`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if self.operator in (GREATER_THAN, LESS_THAN):
            return present and self._compares(labels[self.key])
        return False

    def _compares(self, label_value: str) -> bool:
        actual = _parse_int64(label_value)
        if actual is None or len(self.values) != 1:
            return False
        wanted = _parse_int64(self.values[0])
        if wanted is None:
            return False
        return actual > wanted if self.operator == GREATER_THAN else actual < wanted

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """AND of requirements. `selects_nothing` is metav1's nil selector, which matches no object."""

    requirements: tuple[Requirement, ...] = ()
    selects_nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.selects_nothing:
            return False
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def empty(self) -> bool:
        """True when the selector does not restrict anything (matches every object)."""
        return not self.selects_nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


# Lexer tokens.
_ERROR, _END, _CLOSE_PAREN, _COMMA, _NOT, _DOUBLE_EQUALS, _EQUALS, _GREATER = range(8)
_IDENTIFIER, _IN, _LESS, _NOT_EQUALS, _NOT_IN, _OPEN_PAREN = range(8, 14)

_TOKEN_OF_LITERAL = {
    ")": _CLOSE_PAREN,
    ",": _COMMA,
    "!": _NOT,
    "==": _DOUBLE_EQUALS,
    "=": _EQUALS,
    ">": _GREATER,
    "in": _IN,
    "<": _LESS,
    "!=": _NOT_EQUALS,
    "notin": _NOT_IN,
    "(": _OPEN_PAREN,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex_label_selector(text: str) -> list[tuple[int, str]]:
    tokens: list[tuple[int, str]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= len(text):
            tokens.append((_END, ""))
            return tokens
        if text[pos] in _SPECIAL:
            token, pos = _lex_symbol(text, pos)
        else:
            start = pos
            while pos < len(text) and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
                pos += 1
            word = text[start:pos]
            token = (_TOKEN_OF_LITERAL.get(word, _IDENTIFIER), word)
        tokens.append(token)


def _lex_symbol(text: str, pos: int) -> tuple[tuple[int, str], int]:
    # Longest run of special characters that is still an operator ("!=", "=="), as the Go lexer does.
    best: tuple[int, str] | None = None
    buffer = ""
    while pos < len(text) and text[pos] in _SPECIAL:
        buffer += text[pos]
        if buffer in _TOKEN_OF_LITERAL:
            best = (_TOKEN_OF_LITERAL[buffer], buffer)
        elif best is not None:
            break
        pos += 1
    if best is None:
        return (_ERROR, f"error expected: keyword found '{buffer}'"), pos
    return best, pos


class _LabelSelectorParser:
    """Recursive descent over the token list; 'in'/'notin' read as identifiers in value position."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex_label_selector(text)
        self.position = 0

    def _peek(self, as_value: bool = True) -> tuple[int, str]:
        return self._as(self.tokens[self.position], as_value)

    def _take(self, as_value: bool = True) -> tuple[int, str]:
        token = self.tokens[self.position]
        self.position += 1
        return self._as(token, as_value)

    @staticmethod
    def _as(token: tuple[int, str], as_value: bool) -> tuple[int, str]:
        if as_value and token[0] in (_IN, _NOT_IN):
            return _IDENTIFIER, token[1]
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._peek()
            if token == _END:
                return requirements
            if token not in (_IDENTIFIER, _NOT):
                raise SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except SelectorError as error:
                raise SelectorError(f"unable to parse requirement: {error}") from None
            token, literal = self._take()
            if token == _END:
                return requirements
            if token != _COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self._peek()
            if token not in (_IDENTIFIER, _NOT):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_inferred_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return _checked_requirement(key, operator, ())
        operator = self._operator()
        if operator in (IN, NOT_IN):
            values = self._value_set()
        else:
            values = {self._exact_value()}
        return _checked_requirement(key, operator, tuple(sorted(values)))

    def _key_and_inferred_operator(self) -> tuple[str, str]:
        operator = ""
        token, literal = self._take()
        if token == _NOT:
            operator = DOES_NOT_EXIST
            token, literal = self._take()
        if token != _IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        if (err := _key_error(literal, "<nil>")) is not None:
            raise SelectorError(err)
        if self._peek()[0] in (_END, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return literal, operator

    def _operator(self) -> str:
        token, literal = self._take(as_value=False)
        operators = {
            _IN: IN,
            _EQUALS: EQUALS,
            _DOUBLE_EQUALS: DOUBLE_EQUALS,
            _GREATER: GREATER_THAN,
            _LESS: LESS_THAN,
            _NOT_IN: NOT_IN,
            _NOT_EQUALS: NOT_EQUALS,
        }
        if token not in operators:
            raise SelectorError(f"found '{literal}', expected: '=', '!=', '==', 'in', notin'")
        return operators[token]

    def _value_set(self) -> set[str]:
        token, literal = self._take()
        if token != _OPEN_PAREN:
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self._peek()
        if token == _CLOSE_PAREN:
            self._take()
            return {""}
        if token not in (_IDENTIFIER, _COMMA):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifier_list()
        if self._take()[0] != _CLOSE_PAREN:
            raise SelectorError(f"found '{literal}', expected: ')'")
        return values

    def _identifier_list(self) -> set[str]:
        # Empty entries are the empty-string value: "(a,,b)", "(,a)", "(a,)".
        values: set[str] = set()
        while True:
            token, literal = self._take()
            if token == _IDENTIFIER:
                values.add(literal)
                next_token, next_literal = self._peek()
                if next_token == _CLOSE_PAREN:
                    return values
                if next_token != _COMMA:
                    raise SelectorError(f"found '{next_literal}', expected: ',' or ')'")
            elif token == _COMMA:
                if not values:
                    values.add("")
                next_token, _ = self._peek()
                if next_token == _CLOSE_PAREN:
                    values.add("")
                    return values
                if next_token == _COMMA:
                    self._take()
                    values.add("")
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> str:
        token, _ = self._peek()
        if token in (_END, _COMMA):
            return ""
        token, literal = self._take()
        if token != _IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return literal


def _checked_requirement(key: str, operator: str, values: tuple[str, ...]) -> Requirement:
    errors = _requirement_errors(key, operator, values)
    if errors:
        raise SelectorError(_aggregate(errors))
    return Requirement(key, operator, values)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` query value; empty or None selects everything."""
    if not text:
        return LabelSelector()
    requirements = _LabelSelectorParser(text).parse()
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector (`matchLabels`, `matchExpressions`) as a selector.

    As in apimachinery: None selects nothing, an empty selector selects everything.
    """
    if sel is None:
        return LabelSelector(selects_nothing=True)
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    requirements = [_checked_requirement(key, EQUALS, (value,)) for key, value in match_labels.items()]
    for expression in expressions:
        operator = expression.get("operator", "")
        if operator not in _EXPRESSION_OPERATORS:
            raise SelectorError(f"{_go_quote(str(operator))} is not a valid label selector operator")
        values = tuple(expression.get("values") or ())
        requirements.append(_checked_requirement(expression.get("key", ""), _EXPRESSION_OPERATORS[operator], values))
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# ---------------------------------------------------------------------------------------------
# Field selectors


@dataclass(frozen=True)
class FieldSelector:
    """AND of `field=value` / `field!=value` terms; `==` is read as `=`."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        # A field the object does not have compares as "", as the apiserver's fields.Set does.
        for requirement in self.requirements:
            equal = fields.get(requirement.key, "") == requirement.values[0]
            if equal != (requirement.operator == EQUALS):
                return False
        return True

    def fields(self) -> set[str]:
        return {requirement.key for requirement in self.requirements}

    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(f"{r.key}{r.operator}{_escape_field_value(r.values[0])}" for r in self.requirements)


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_field_terms(text: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_field_term(term: str) -> tuple[str, str, str] | None:
    # The first operator occurrence splits; "!=" and "==" are tried before "=".
    for index in range(len(term)):
        for operator in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator) :]
    return None


def _unescape_field_value(value: str) -> str:
    result, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            result.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: '{char}'")
        else:
            result.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(result)


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse a `fieldSelector` query value; values may escape `\\,`, `\\=` and `\\\\`."""
    if not text:
        return FieldSelector()
    requirements = []
    for term in sorted(_split_field_terms(text)):
        if term == "":
            continue
        split = _split_field_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, value = split
        operator = NOT_EQUALS if operator == NOT_EQUALS else EQUALS
        requirements.append(Requirement(field, operator, (_unescape_field_value(value),)))
    return FieldSelector(tuple(requirements))


_METADATA_FIELDS = frozenset({"metadata.name", "metadata.namespace"})

_FIELD_LABELS: dict[tuple[str, str], frozenset[str]] = {
    ("", "Pod"): frozenset(
        {
            "spec.nodeName",
            "spec.host",  # old clients' name for spec.nodeName, still accepted
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        }
    ),
    ("", "Event"): frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    ("", "Node"): frozenset({"spec.unschedulable"}),
    ("", "Namespace"): frozenset({"status.phase"}),
    ("", "Secret"): frozenset({"type"}),
}


def field_labels(group: str, kind: str) -> frozenset[str]:
    """The field labels the apiserver accepts in field selectors for this kind."""
    return _METADATA_FIELDS | _FIELD_LABELS.get((group, kind), frozenset())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pod_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    pod_ips = status.get("podIPs") or []
    pod_ip = pod_ips[0].get("ip", "") if pod_ips else status.get("podIP", "")
    return {
        "spec.nodeName": _text(spec.get("nodeName")),
        "spec.host": _text(spec.get("nodeName")),
        "spec.restartPolicy": _text(spec.get("restartPolicy")),
        "spec.schedulerName": _text(spec.get("schedulerName")),
        "spec.serviceAccountName": _text(spec.get("serviceAccountName")),
        "spec.hostNetwork": _text(bool(spec.get("hostNetwork", False))),
        "status.phase": _text(status.get("phase")),
        "status.podIP": _text(pod_ip),
        "status.nominatedNodeName": _text(status.get("nominatedNodeName")),
    }


def _event_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    involved = obj.get("involvedObject") or {}
    source = (obj.get("source") or {}).get("component") or obj.get("reportingComponent") or ""
    fields = {f"involvedObject.{name}": _text(involved.get(name)) for name in (
        "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"
    )}
    fields.update(
        {
            "reason": _text(obj.get("reason")),
            "reportingComponent": _text(obj.get("reportingComponent")),
            "source": _text(source),
            "type": _text(obj.get("type")),
        }
    )
    return fields


def object_fields(group: str, kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The field set a field selector is matched against for one object."""
    metadata = obj.get("metadata") or {}
    fields = {
        "metadata.name": _text(metadata.get("name")),
        "metadata.namespace": _text(metadata.get("namespace")),
    }
    if group != "":
        return fields
    if kind == "Pod":
        fields.update(_pod_fields(obj))
    elif kind == "Event":
        fields.update(_event_fields(obj))
    elif kind == "Node":
        fields["spec.unschedulable"] = _text(bool((obj.get("spec") or {}).get("unschedulable", False)))
    elif kind == "Namespace":
        fields["status.phase"] = _text((obj.get("status") or {}).get("phase"))
    elif kind == "Secret":
        fields["type"] = _text(obj.get("type"))
    return fields


def check_field_selector(sel: FieldSelector, group: str, kind: str, resource: str) -> None:
    """Reject field labels the kind does not support, as a list or watch on `resource` would."""
    supported = field_labels(group, kind)
    for requirement in sel.requirements:
        if requirement.key not in supported:
            raise SelectorError(f"field label not supported: {requirement.key}")
