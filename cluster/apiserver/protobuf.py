"""Decodes Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into JSON-form objects.

kubectl's typed clients send built-in kinds this way. The result is what the same client would have sent as
JSON, so everything after `_body()` sees one shape; the wire fields come from `protobuf_messages`.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from .protobuf_messages import ALIASES, DELETE_OPTIONS, KINDS, MESSAGES

MAGIC = b"k8s\x00"
UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
_FIX = "send the object as JSON, e.g. kubectl apply -f"

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
_WIRE_NAMES = {0: "varint", 1: "fixed64", 2: "length-delimited", 3: "group start", 4: "group end", 5: "fixed32"}
_SCALAR_WIRE = {"string": LENGTH_DELIMITED, "bytes": LENGTH_DELIMITED, "json": LENGTH_DELIMITED,
                "int32": VARINT, "int64": VARINT, "uint32": VARINT, "uint64": VARINT, "bool": VARINT,
                "double": FIXED64, "fixed64": FIXED64, "float": FIXED32, "fixed32": FIXED32}
_ZERO: dict[str, Any] = {"string": "", "bytes": "", "json": None, "bool": False, "double": 0.0, "float": 0.0}


class ProtobufError(ValueError):
    """A protobuf body this server cannot turn into an object; the message names the message type and field."""


@dataclass(frozen=True)
class Field:
    """One wire field of a message, parsed from its `protobuf_messages` type string."""

    number: int
    json_name: str        # "" when Go inlines the message into its parent
    scalar: str | None    # "string", "int32", ... or None for a message
    message: str | None   # full message name for message fields and message map values
    repeated: bool = False
    is_map: bool = False
    keeps_zero: bool = False  # a pointer or a field without `omitempty`: a zero on the wire is printed

    @property
    def wire_type(self) -> int:
        return _SCALAR_WIRE[self.scalar] if self.scalar else LENGTH_DELIMITED


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a `k8s\\x00`-prefixed `runtime.Unknown` envelope, with apiVersion and kind first."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the request body is not a Kubernetes protobuf message (it lacks the k8s\\x00 prefix); "
                            + _FIX)
    api_version, kind, raw, content_type = _envelope(body[len(MAGIC):])
    if not kind:
        raise ProtobufError(f"the protobuf envelope ({UNKNOWN}) names no kind; {_FIX}")
    message = message_for(api_version, kind)
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    try:
        if content_type in ("", "application/vnd.kubernetes.protobuf"):
            obj.update(decode_message(raw, message))
        elif content_type == "application/json":
            obj.update(_json(raw, UNKNOWN, 2) or {})
        else:
            raise ProtobufError(f"the envelope carries content type {content_type!r}; {_FIX}")
    except ProtobufError as exc:
        raise ProtobufError(f"{kind} ({api_version}) in protobuf: {exc}") from None
    return obj


def message_for(api_version: str, kind: str) -> str:
    """The protobuf message of a kind, or a ProtobufError naming the kind."""
    if kind == "DeleteOptions":
        return DELETE_OPTIONS
    message = KINDS.get((api_version, kind))
    if message is None:
        raise ProtobufError(f"protobuf bodies of kind {kind} ({api_version or 'no apiVersion'}) are not supported "
                            f"by this server; {_FIX}")
    return message


def decode_message(data: bytes, message: str, path: str = "") -> dict[str, Any]:
    """The JSON form of one message's bytes; `path` is where it sits in the object, for error messages."""
    fields = schema(message)
    out: dict[str, Any] = {}
    for number, wire_type, value in _wire_fields(data, message):
        field = fields.get(number)
        if field is None:
            raise ProtobufError(f"field {number} of {message}{_at(path)} is not known to this server; {_FIX}")
        _add(out, field, wire_type, value, message, path)
    return out


@cache
def schema(message: str) -> dict[int, Field]:
    """The parsed wire fields of a message, by field number."""
    package, _, name = message.rpartition(".")
    try:
        table = MESSAGES[package][name]
    except KeyError:
        raise ProtobufError(f"message {message} is not known to this server; {_FIX}") from None
    return {number: _parse_field(number, json_name, spec, package) for number, (json_name, spec) in table.items()}


def _parse_field(number: int, json_name: str, spec: str, package: str) -> Field:
    repeated = is_map = keeps_zero = False
    if spec.startswith("[]"):
        repeated, spec = True, spec[2:]
    elif spec.startswith("map[string]"):
        is_map, spec = True, spec[len("map[string]"):]
    if spec.startswith("*"):
        keeps_zero, spec = True, spec[1:]
    if spec.endswith("!"):
        keeps_zero, spec = True, spec[:-1]
    if spec in _SCALAR_WIRE:
        return Field(number, json_name, spec, None, repeated, is_map, keeps_zero)
    alias, _, name = spec.rpartition(".")
    return Field(number, json_name, None, f"{ALIASES[alias] if alias else package}.{name}", repeated, is_map,
                 keeps_zero)


# -- wire format ---------------------------------------------------------------------------

def _varint(data: bytes, pos: int, message: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError(f"{message} is truncated inside a varint; {_FIX}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError(f"{message} holds a varint longer than 10 bytes; {_FIX}")


def _wire_fields(data: bytes, message: str) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field on the wire: an int for varints, else the bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos, message)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == VARINT:
            value, pos = _varint(data, pos, message)
        elif wire_type in (FIXED64, FIXED32, LENGTH_DELIMITED):
            if wire_type == LENGTH_DELIMITED:
                size, pos = _varint(data, pos, message)
            else:
                size = 8 if wire_type == FIXED64 else 4
            if pos + size > len(data):
                raise ProtobufError(f"field {number} of {message} is truncated ({size} bytes announced, "
                                    f"{len(data) - pos} left); {_FIX}")
            value, pos = bytes(data[pos:pos + size]), pos + size
        else:
            raise ProtobufError(f"field {number} of {message} uses wire type {wire_type} "
                                f"({_WIRE_NAMES.get(wire_type, 'unknown')}), which Kubernetes never sends; {_FIX}")
        if number == 0:
            raise ProtobufError(f"{message} holds a field numbered 0, which protobuf does not allow; {_FIX}")
        yield number, wire_type, value


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(kind: str, wire_value: int | bytes, message: str, number: int) -> Any:
    if kind == "string":
        assert isinstance(wire_value, bytes)
        try:
            return wire_value.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtobufError(f"field {number} of {message} is not valid UTF-8 text; {_FIX}") from None
    if kind == "bytes":
        assert isinstance(wire_value, bytes)
        return base64.b64encode(wire_value).decode("ascii")
    if kind == "json":
        assert isinstance(wire_value, bytes)
        return _json(wire_value, message, number)
    if kind in ("double", "float", "fixed64", "fixed32"):
        assert isinstance(wire_value, bytes)
        return _fixed(kind, wire_value)
    assert isinstance(wire_value, int)
    if kind == "bool":
        return wire_value != 0
    if kind in ("int32", "int64"):
        # Negative int32 values travel sign-extended to 64 bits.
        return _signed(wire_value, 64 if kind == "int64" else 32)
    return wire_value & ((1 << (32 if kind == "uint32" else 64)) - 1)


def _fixed(kind: str, data: bytes) -> float | int:
    return struct.unpack({"double": "<d", "float": "<f", "fixed64": "<Q", "fixed32": "<I"}[kind], data)[0]


def _json(data: bytes, message: str, number: int) -> Any:
    """Bytes that hold an embedded document: JSON, or (rarely) another protobuf envelope."""
    if not data:
        return None
    if data.startswith(MAGIC):
        return decode_object(data)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtobufError(f"field {number} of {message} should hold JSON: {exc}; {_FIX}") from None


def _packed(kind: str, data: bytes, message: str, number: int) -> list[Any]:
    """The elements of a packed repeated scalar field."""
    if _SCALAR_WIRE[kind] != VARINT:
        size = 8 if _SCALAR_WIRE[kind] == FIXED64 else 4
        return [_fixed(kind, data[i:i + size]) for i in range(0, len(data) - len(data) % size, size)]
    values, pos = [], 0
    while pos < len(data):
        value, pos = _varint(data, pos, message)
        values.append(_scalar(kind, value, message, number))
    return values


# -- fields into JSON ----------------------------------------------------------------------

def _add(out: dict[str, Any], field: Field, wire_type: int, value: int | bytes, message: str, path: str) -> None:
    """Put one wire field into the JSON object being built."""
    here = f"{path}.{field.json_name}" if path and field.json_name else field.json_name or path
    if field.is_map:
        _expect(wire_type, LENGTH_DELIMITED, field, message)
        assert isinstance(value, bytes)
        key, entry = _map_entry(value, field, message, here)
        out.setdefault(field.json_name, {})[key] = entry
    elif field.repeated:
        items = out.setdefault(field.json_name, [])
        if field.scalar and wire_type == LENGTH_DELIMITED and field.wire_type != LENGTH_DELIMITED:
            assert isinstance(value, bytes)
            items.extend(_packed(field.scalar, value, message, field.number))
            return
        _expect(wire_type, field.wire_type, field, message)
        items.append(_value(field, value, message, f"{here}[{len(items)}]"))
    else:
        _expect(wire_type, field.wire_type, field, message)
        _set_single(out, field, _value(field, value, message, here))


def _set_single(out: dict[str, Any], field: Field, decoded: Any) -> None:
    if decoded is _OMIT:
        return
    if field.message is None:
        if decoded == _ZERO.get(field.scalar or "", 0) and not field.keeps_zero:
            return  # Go's omitempty drops the zero that gogo-protobuf always writes for value fields
        out[field.json_name] = decoded
    elif not field.json_name:
        out.update(decoded)
    elif isinstance(decoded, dict) and isinstance(out.get(field.json_name), dict):
        out[field.json_name].update(decoded)  # protobuf merges a message that appears twice
    else:
        out[field.json_name] = decoded


def _value(field: Field, value: int | bytes, message: str, path: str) -> Any:
    if field.scalar:
        return _scalar(field.scalar, value, message, field.number)
    assert field.message is not None and isinstance(value, bytes)
    return _message_value(value, field.message, path)


def _message_value(data: bytes, message: str, path: str) -> Any:
    decoded = decode_message(data, message, path)
    json_form = _JSON_FORMS.get(message)
    return json_form(decoded) if json_form else decoded


def _map_entry(data: bytes, field: Field, message: str, path: str) -> tuple[str, Any]:
    key, entry, seen = "", None, False
    for number, wire_type, value in _wire_fields(data, f"{message} map entry {field.json_name}"):
        if number == 1:
            _expect(wire_type, LENGTH_DELIMITED, field, message)
            key = _scalar("string", value, message, field.number)
        elif number == 2:
            _expect(wire_type, field.wire_type, field, message)
            entry, seen = value, True
        else:
            raise ProtobufError(f"field {number} of the map entry {field.json_name} of {message}{_at(path)} is "
                                f"not known to this server; {_FIX}")
    where = f"{path}[{key}]"
    if field.scalar:
        return key, _scalar(field.scalar, entry, message, field.number) if seen else _ZERO.get(field.scalar, 0)
    assert field.message is not None
    decoded = _message_value(entry if isinstance(entry, bytes) else b"", field.message, where)
    return key, None if decoded is _OMIT else decoded


def _expect(wire_type: int, expected: int, field: Field, message: str) -> None:
    if wire_type != expected:
        raise ProtobufError(f"field {field.number} ({field.json_name or 'inline'}) of {message} arrived as "
                            f"{_WIRE_NAMES.get(wire_type, wire_type)}, but this server expects "
                            f"{_WIRE_NAMES[expected]}; {_FIX}")


def _at(path: str) -> str:
    return f" (at {path})" if path else ""


# -- messages with their own JSON form ----------------------------------------------------

_OMIT = object()  # a zero Time: Go prints it as null, or leaves it out (omitzero); we leave it out


def _time(decoded: dict[str, Any]) -> Any:
    # An empty Time message is Go's zero time; Kubernetes' Time keeps whole seconds only.
    if "seconds" not in decoded:
        return _OMIT
    return _utc(decoded["seconds"]).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time(decoded: dict[str, Any]) -> Any:
    if "seconds" not in decoded and "nanos" not in decoded:
        return _OMIT
    seconds, micros = decoded.get("seconds", 0), decoded.get("nanos", 0) // 1000
    return _utc(seconds).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"


def _utc(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"a timestamp of {seconds} seconds since 1970 is out of range; {_FIX}") from None


def _quantity(decoded: dict[str, Any]) -> str:
    return decoded.get("string") or "0"


def _int_or_string(decoded: dict[str, Any]) -> int | str:
    return decoded.get("strVal", "") if decoded.get("type", 0) == 1 else decoded.get("intVal", 0)


def _duration(decoded: dict[str, Any]) -> str:
    return go_duration(decoded.get("duration", 0))


def go_duration(nanoseconds: int) -> str:
    """Go's time.Duration.String(): 1h2m3.5s, 1.5ms, 0s."""
    if nanoseconds == 0:
        return "0s"
    sign, ns = ("-", -nanoseconds) if nanoseconds < 0 else ("", nanoseconds)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _decimal(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0") if fraction else ""
    return f"{whole}.{digits}" if digits else str(whole)


def _raw_extension(decoded: dict[str, Any]) -> Any:
    return decoded.get("raw")


def _fields_v1(decoded: dict[str, Any]) -> Any:
    return decoded.get("Raw", {})


def _string_list(decoded: dict[str, Any]) -> list[str]:
    return decoded.get("items", [])


_JSON_FORMS: dict[str, Callable[[dict[str, Any]], Any]] = {
    f"{ALIASES['meta']}.Time": _time,
    f"{ALIASES['meta']}.MicroTime": _micro_time,
    f"{ALIASES['meta']}.Duration": _duration,
    f"{ALIASES['meta']}.FieldsV1": _fields_v1,
    f"{ALIASES['resource']}.Quantity": _quantity,
    f"{ALIASES['intstr']}.IntOrString": _int_or_string,
    f"{ALIASES['runtime']}.RawExtension": _raw_extension,
    "k8s.io.api.authentication.v1.ExtraValue": _string_list,
    "k8s.io.api.authorization.v1.ExtraValue": _string_list,
}


# -- the envelope --------------------------------------------------------------------------

def _envelope(data: bytes) -> tuple[str, str, bytes, str]:
    """(apiVersion, kind, raw, contentType) of a runtime.Unknown; contentEncoding must be empty."""
    api_version = kind = content_type = ""
    raw = b""
    for number, wire_type, value in _wire_fields(data, UNKNOWN):
        if wire_type != LENGTH_DELIMITED or number not in (1, 2, 3, 4):
            raise ProtobufError(f"field {number} of {UNKNOWN} is not known to this server; {_FIX}")
        assert isinstance(value, bytes)
        if number == 1:
            for type_number, type_wire, type_value in _wire_fields(value, f"{UNKNOWN}.typeMeta"):
                if type_wire != LENGTH_DELIMITED or type_number not in (1, 2):
                    raise ProtobufError(f"field {type_number} of {UNKNOWN} typeMeta is not known to this server; "
                                        + _FIX)
                text = _scalar("string", type_value, f"{UNKNOWN}.typeMeta", type_number)
                if type_number == 1:
                    api_version = text
                else:
                    kind = text
        elif number == 2:
            raw = value
        elif number == 3 and value:
            raise ProtobufError(f"protobuf bodies with content encoding {value.decode(errors='replace')!r} are "
                                f"not supported by this server; {_FIX}")
        elif number == 4:
            content_type = _scalar("string", value, UNKNOWN, 4)
    return api_version, kind, raw, content_type
