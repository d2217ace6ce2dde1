"""Kubernetes JSONPath (client-go `util/jsonpath` dialect) for CRD additionalPrinterColumns.

Paths are parsed once, at compile time, so a CRD with a bad column can be rejected at admission;
evaluation never raises: a missing key, a wrong type or an out-of-range index yields no result,
which the table printer shows as `<none>`, as kube-apiserver does with `AllowMissingKeys(true)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class JSONPathError(ValueError):
    """A JSONPath expression that does not parse."""


class _EvaluationFailed(Exception):
    """Raised inside evaluation where client-go returns an error; the whole path then yields []."""


# --------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Recursive:
    pass


@dataclass(frozen=True)
class _SliceBound:
    known: bool = False
    value: int = 0
    derived: bool = False  # the end of a single index `[i]`, i.e. i+1


@dataclass(frozen=True)
class _Slice:
    start: _SliceBound
    end: _SliceBound
    step: _SliceBound


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Filter:
    left: tuple[Any, ...]
    right: tuple[Any, ...]
    operator: str  # one of _COMPARISONS or "exists"


@dataclass(frozen=True)
class _Union:
    branches: tuple[tuple[Any, ...], ...]


@dataclass
class _Template:
    # Each part is either a str (literal text) or a tuple of nodes (one `{...}` action).
    parts: list[str | tuple[Any, ...]] = field(default_factory=list)


_COMPARISONS = ("==", "!=", "<", ">", "<=", ">=")
_DICT_KEY = re.compile(r"^'([^']*)'$")
_SLICE = re.compile(r"^(-?\d*)(:-?\d*)?(:-?\d*)?$")
_FILTER = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$")
_TERMINATORS = frozenset(" \t\r\n.,[]$@{}")


class _Parser:
    """A port of client-go's template parser: text outside braces, a node list inside each."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0

    # -- cursor helpers
    def _next(self) -> str:
        if self.pos >= len(self.text):
            self.pos += 1  # so that _backup() after end-of-input is balanced
            return ""
        char = self.text[self.pos]
        self.pos += 1
        return char

    def _backup(self) -> None:
        self.pos -= 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _consume_text(self) -> str:
        value = self.text[self.start : self.pos]
        self.start = self.pos
        return value

    # -- template level
    def parse_template(self) -> _Template:
        template = _Template()
        while True:
            brace = self.text.find("{", self.pos)
            if brace < 0:
                if self.start < len(self.text):
                    template.parts.append(self.text[self.start :])
                return template
            if brace > self.start:
                template.parts.append(self.text[self.start : brace])
            self.pos = brace + 1
            self.start = self.pos
            nodes: list[Any] = []
            self._parse_action(nodes)
            template.parts.append(tuple(nodes))

    def _parse_action(self, nodes: list[Any]) -> None:
        """Parse node after node until the closing brace of this action."""
        while True:
            rest = self.text[self.pos :]
            if rest.startswith("}"):
                self.pos += 1
                self.start = self.pos
                return
            if rest.startswith("[?("):
                self._parse_filter(nodes)
                continue
            if rest.startswith(".."):
                self._parse_recursive(nodes)
                continue
            char = self._next()
            if char == "" or char in "\r\n":
                raise JSONPathError("unclosed action")
            if char in " @$":
                self._consume_text()
            elif char == "[":
                self._parse_array(nodes)
            elif char in "\"'":
                self._parse_quote(nodes, char)
            elif char == ".":
                self._parse_field(nodes)
            elif char in "+-" or char.isdigit():
                self._backup()
                self._parse_number(nodes)
            elif char == "_" or char.isalnum():
                self._backup()
                self._parse_identifier(nodes)
            else:
                raise JSONPathError(f"unrecognized character in action: U+{ord(char):04X} '{char}'")

    def _parse_field(self, nodes: list[Any]) -> None:
        self._consume_text()
        while True:
            char = self._next()
            if char == "\\":
                self._next()  # a backslash escapes the next character, e.g. `kubevirt\.io`
            elif char == "" or char in _TERMINATORS:
                self._backup()
                break
        name = self._consume_text()
        nodes.append(_Wildcard() if name == "*" else _Field(name.replace("\\", "")))

    def _parse_recursive(self, nodes: list[Any]) -> None:
        if nodes and isinstance(nodes[-1], _Recursive):
            raise JSONPathError("invalid multiple recursive descent")
        self.pos += 2
        self._consume_text()
        nodes.append(_Recursive())
        following = self._peek()
        if following == "_" or following.isalnum():
            self._parse_field(nodes)

    def _parse_number(self, nodes: list[Any]) -> None:
        if self._peek() in ("+", "-"):
            self._next()
        while True:
            char = self._next()
            if char != "." and not char.isdigit():
                self._backup()
                break
        text = self._consume_text()
        if re.fullmatch(r"[+-]?\d+", text):
            nodes.append(_Literal(int(text)))
            return
        try:
            nodes.append(_Literal(float(text)))
        except ValueError:
            raise JSONPathError(f"cannot parse number {text}") from None

    def _parse_identifier(self, nodes: list[Any]) -> None:
        while True:
            char = self._next()
            if char == "" or char in _TERMINATORS:
                self._backup()
                break
        word = self._consume_text()
        if word not in ("true", "false"):
            # client-go only fails when evaluating; failing here lets a CRD be rejected up front.
            raise JSONPathError(f"unrecognized identifier {word}")
        nodes.append(_Literal(word == "true"))

    def _parse_quote(self, nodes: list[Any], quote: str) -> None:
        while True:
            char = self._next()
            if char == "" or char == "\n":
                raise JSONPathError("unterminated quoted string")
            if char == quote and self.text[self.pos - 2] != "\\":
                break
        raw = self._consume_text()
        nodes.append(_Literal(_unquote(raw)))

    def _parse_array(self, nodes: list[Any]) -> None:
        while True:
            char = self._next()
            if char == "" or char == "\n":
                raise JSONPathError("unterminated array")
            if char == "]":
                break
        inner = self._consume_text()[1:-1]
        if inner == "*":
            inner = ":"
        pieces = inner.split(",")
        if len(pieces) > 1:
            nodes.append(_Union(tuple(_parse_single_action(f"[{piece.strip(' ')}]") for piece in pieces)))
            return
        key = _DICT_KEY.match(inner)
        if key:
            # ['a.b'] is read as the path .a.b, exactly like client-go: escape dots inside keys too.
            nodes.extend(_parse_single_action("." + key.group(1)))
            return
        nodes.append(_parse_slice(inner))

    def _parse_filter(self, nodes: list[Any]) -> None:
        self.pos += 3
        self._consume_text()
        opened = closed = False
        pair = ""
        while True:
            char = self._next()
            if char == "" or char == "\n":
                raise JSONPathError("unterminated filter")
            if char in "\"'":
                if not opened:
                    opened, pair = True, char
                    continue
                if self.text[self.pos - 2] != "\\" and char == pair:
                    closed = True
            elif char == ")" and opened == closed:
                break
        if self._next() != "]":
            raise JSONPathError("unclosed array expect ]")
        expression = self._consume_text()[:-2]
        comparison = _FILTER.match(expression)
        if comparison is None:
            nodes.append(_Filter(_parse_single_action(expression), (), "exists"))
            return
        left, operator, right = comparison.groups()
        if operator not in _COMPARISONS:
            raise JSONPathError(f"unrecognized filter operator {operator}")
        nodes.append(_Filter(_parse_single_action(left), _parse_single_action(right), operator))


def _parse_single_action(text: str) -> tuple[Any, ...]:
    template = _Parser("{" + text + "}").parse_template()
    first = template.parts[0]
    return first if isinstance(first, tuple) else ()


def _parse_slice(text: str) -> _Slice:
    match = _SLICE.match(text)
    if match is None:
        raise JSONPathError(f"invalid array index {text}")
    raw = [group or "" for group in match.groups()]
    bounds: list[_SliceBound] = []
    for index, value in enumerate(raw):
        if index > 0 and value:
            value = value[1:]
            if value == "":
                bounds.append(_SliceBound())
                continue
        if value:
            bounds.append(_SliceBound(known=True, value=int(value)))
        elif index == 1:
            bounds.append(_SliceBound(known=True, value=bounds[0].value + 1, derived=True))
        else:
            bounds.append(_SliceBound())
    return _Slice(*bounds)


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}


def _unquote(raw: str) -> str:
    """Go's strconv.Unquote, extended to single-quoted strings (client-go's UnquoteExtend)."""
    body = raw[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = body[index + 1 : index + 2]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            index += 2
            continue
        widths = {"x": 2, "u": 4, "U": 8}
        if escape in widths:
            digits = body[index + 2 : index + 2 + widths[escape]]
            if len(digits) != widths[escape] or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise JSONPathError(f"unquote string {raw} error invalid syntax")
            out.append(chr(int(digits, 16)))
            index += 2 + widths[escape]
            continue
        digits = body[index + 1 : index + 4]
        if re.fullmatch(r"[0-7]{3}", digits):
            out.append(chr(int(digits, 8)))
            index += 4
            continue
        raise JSONPathError(f"unquote string {raw} error invalid syntax")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Evaluation


def _evaluate(nodes: tuple[Any, ...], values: list[Any]) -> list[Any]:
    for node in nodes:
        values = _step(node, values)
    return values


def _step(node: Any, values: list[Any]) -> list[Any]:
    if isinstance(node, _Field):
        return _select_field(node.name, values)
    if isinstance(node, _Slice):
        return _select_slice(node, values)
    if isinstance(node, _Filter):
        return _select_filtered(node, values)
    if isinstance(node, _Wildcard):
        return [child for value in values for child in _children(value, sort_keys=False)]
    if isinstance(node, _Recursive):
        return _descend(values)
    if isinstance(node, _Union):
        return [result for branch in node.branches for result in _evaluate(branch, values)]
    if isinstance(node, _Literal):
        # Quoted text stands once, whatever the input; numbers and booleans repeat per input.
        return [node.value] if isinstance(node.value, str) else [node.value for _ in values]
    raise AssertionError(f"unknown JSONPath node {node!r}")


def _select_field(name: str, values: list[Any]) -> list[Any]:
    if name == "":
        return [value for value in values if value is not None]
    return [value[name] for value in values if isinstance(value, dict) and name in value]


def _children(value: Any, *, sort_keys: bool) -> list[Any]:
    if isinstance(value, dict):
        keys = sorted(value) if sort_keys else list(value)
        return [value[key] for key in keys]
    if isinstance(value, list | tuple):
        return list(value)
    return []


def _descend(values: list[Any]) -> list[Any]:
    # `..` yields every container at or below each value, depth first, map keys in sorted order.
    results: list[Any] = []
    for value in values:
        children = _children(value, sort_keys=True)
        if children:
            results.append(value)
            results.extend(_descend(children))
    return results


def _select_slice(node: _Slice, values: list[Any]) -> list[Any]:
    results: list[Any] = []
    for value in values:
        if value is None:
            continue
        if not isinstance(value, list | tuple):
            raise _EvaluationFailed(f"{type(value).__name__} is not array or slice")
        length = len(value)
        start = node.start.value if node.start.known else 0
        if start < 0:
            start += length
        end = node.end.value if node.end.known else length
        if end < 0 or (end == 0 and node.end.derived):
            end += length
        if end == start:
            return results
        if not 0 <= start < length or not 0 <= end <= length or start > end:
            raise _EvaluationFailed("array index out of bounds")
        step = 1
        if node.step.known:
            if node.step.value <= 0:
                raise _EvaluationFailed("step must be > 0")
            step = node.step.value
        results.extend(value[start:end:step])
    return results


def _select_filtered(node: _Filter, values: list[Any]) -> list[Any]:
    results: list[Any] = []
    for value in values:
        if not isinstance(value, list | tuple):
            raise _EvaluationFailed("not array or slice and cannot be filtered")
        for item in value:
            lefts = _evaluate(node.left, [item])
            if node.operator == "exists":
                if lefts:
                    results.append(item)
                continue
            rights = _evaluate(node.right, [item])
            if not lefts or not rights:
                continue
            if len(lefts) > 1 or len(rights) > 1:
                raise _EvaluationFailed("can only compare one element at a time")
            if _compare(lefts[0], node.operator, rights[0]):
                results.append(item)
    return results


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def _compare(left: Any, operator: str, right: Any) -> bool:
    kind = _kind(left)
    # Go's template comparisons fail on mixed or non-basic types, which voids the whole path.
    if kind != _kind(right) or kind == "other":
        raise _EvaluationFailed("incompatible types for comparison")
    if operator == "==":
        return left == right
    if operator == "!=":
        return left != right
    if kind == "bool":
        raise _EvaluationFailed("invalid type for comparison")
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[operator]


def compile_path(path: str) -> Callable[[Any], list[Any]]:
    """Compile a printer-column path ('.status.phase', "[?(@.type=='Ready')]", or '{.a.b}').

    The returned function gives every value the path selects, in order (the table printer shows
    the first); it never raises, whatever the object looks like.
    """
    source = path if path.lstrip().startswith("{") else "{" + path + "}"
    try:
        template = _Parser(source).parse_template()
    except JSONPathError as error:
        raise JSONPathError(f'invalid JSONPath "{path}": {error}') from None

    def evaluate(obj: Any) -> list[Any]:
        results: list[Any] = []
        try:
            for part in template.parts:
                if isinstance(part, str):
                    results.append(part)
                else:
                    results.extend(_evaluate(part, [obj]))
        except _EvaluationFailed:
            return []
        return results

    return evaluate
