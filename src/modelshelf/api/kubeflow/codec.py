"""JSON bodies in, rows out, exactly as the Kubeflow Model Registry spec shapes them.

Decoding is strict the way the upstream server is: an unknown field, a wrong type or a bad enum value is
a 400 naming the field. Rendering omits unset optional fields (the spec has no nulls), writes ids and
times as decimal strings, and writes `Metric.step` as a string on v1 and a number on v1alpha3.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from modelshelf.domain.entities import INT32_MAX, NAME_MAX, Entity, Kind
from modelshelf.errors import InvalidArgument, MissingField, shown
from modelshelf.store.repository import Row

_ID = re.compile(r"[1-9][0-9]{0,9}")
_EPOCH = re.compile(r"-?[0-9]{1,19}")
_INT_VALUE = re.compile(r"-?(?:[1-9][0-9]{0,8}|0)")
MAX_STRING = 1 << 20
MAX_PROPERTIES = 1000
_SHORT_STRINGS = frozenset({"externalId"})  # stored in indexed columns of NAME_MAX characters
# RFC 3986: scheme ":" then only unreserved, reserved and "%" characters, with at most one "#". Brackets
# (IPv6 literals) are checked apart, because only the host may hold them. A data URL is a URI too.
_URI_CHARS = r"A-Za-z0-9\-._~!$&'()*+,;=:@/?%"
_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:[{_URI_CHARS}\[\]]*(?:#[{_URI_CHARS}]*)?")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_AUTHORITY_WITH_LITERAL = re.compile(rf"//(?:[{_URI_CHARS}]*@)?\[[0-9A-Fa-f:.vV]+\](?::[0-9]*)?(?:[/?#]|$)")


def parse_id(text: str, what: str = "id") -> int:
    """A decimal id in int32 range, as the wire schema allows (`^[1-9][0-9]{0,8}$`, extended to 2^31-1)."""
    if not isinstance(text, str) or not _ID.fullmatch(text) or int(text) > INT32_MAX:
        raise InvalidArgument(f"invalid {what} {shown(text)}: must be a decimal id between 1 and {INT32_MAX}")
    return int(text)


def _string(api: str, value: object, limit: int = MAX_STRING) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"json: cannot unmarshal {_json_type(value)} into field {api} of type string")
    if "\x00" in value:
        raise InvalidArgument(f"field {api} contains a NUL character")
    if len(value) > limit:
        raise InvalidArgument(f"field {api} is longer than {limit} characters")
    return value


def _uri(api: str, value: str) -> str:
    """`value` if it is an absolute URI (what the spec's `format: uri` means), else InvalidArgument."""
    if _URI.fullmatch(value) and not _BAD_PERCENT.search(value):
        rest = value[value.index(":") + 1 :]
        if "[" not in rest and "]" not in rest:
            return value
        if _AUTHORITY_WITH_LITERAL.match(rest) and rest.count("[") == rest.count("]") == 1:
            return value
    raise InvalidArgument(
        f"invalid value {shown(value)} for field {api}: must be an absolute URI with a scheme (RFC 3986),"
        " such as https://example.com/LICENSE; percent-encode spaces and non-ASCII characters"
    )


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _decode_value(api: str, kind: Kind, values: tuple[str, ...], value: object) -> object:
    if kind is Kind.STR:
        return _string(api, value, NAME_MAX if api in _SHORT_STRINGS else MAX_STRING)
    if kind is Kind.URI:
        return _uri(api, _string(api, value))
    if kind is Kind.ID:
        return parse_id(value, api) if isinstance(value, str) else _fail_type(api, value, "string")
    if kind is Kind.EPOCH:
        if isinstance(value, str) and _EPOCH.fullmatch(value) and _fits_int64(int(value)):
            return int(value)
        raise InvalidArgument(f"field {api} must be a string of epoch milliseconds, got {shown(value)}")
    if kind is Kind.ENUM:
        if isinstance(value, str) and value in values:
            return value
        raise InvalidArgument(
            f"invalid value {shown(value)} for field {api}: must be one of {', '.join(values)}"
        )
    if kind is Kind.STR_LIST:
        if not isinstance(value, list):
            return _fail_type(api, value, "array")
        return [_string(api, item) for item in value]
    if kind is Kind.DOUBLE:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return _fail_type(api, value, "number")
    if kind is Kind.INT64:
        if isinstance(value, int) and not isinstance(value, bool) and _fits_int64(value):
            return value
        if isinstance(value, str) and _EPOCH.fullmatch(value) and _fits_int64(int(value)):
            return int(value)
        raise InvalidArgument(f"field {api} must be a 64-bit integer, got {shown(value)}")
    if kind is Kind.PROPS:
        return decode_properties(value)
    raise AssertionError(kind)  # pragma: no cover


def _fits_int64(value: int) -> bool:
    return -(2**63) <= value < 2**63


def _fail_type(api: str, value: object, expected: str) -> Any:
    raise InvalidArgument(f"json: cannot unmarshal {_json_type(value)} into field {api} of type {expected}")


_METADATA_FIELDS: dict[str, tuple[str, ...]] = {
    "MetadataStringValue": ("string_value",),
    "MetadataIntValue": ("int_value",),
    "MetadataDoubleValue": ("double_value",),
    "MetadataBoolValue": ("bool_value",),
    "MetadataStructValue": ("struct_value",),
    "MetadataProtoValue": ("type", "proto_value"),
}


def decode_properties(value: object) -> dict[str, dict[str, Any]]:
    """Validate a `customProperties` map; values keep their wire form, which is what reads return."""
    if not isinstance(value, dict):
        return _fail_type("customProperties", value, "object")  # type: ignore[no-any-return]
    if len(value) > MAX_PROPERTIES:
        raise InvalidArgument(f"customProperties has more than {MAX_PROPERTIES} entries")
    out: dict[str, dict[str, Any]] = {}
    for key, prop in value.items():
        where = f"customProperties[{shown(key)}]"
        if not key or len(key) > NAME_MAX or "\x00" in key:
            raise InvalidArgument(f"invalid custom property name {shown(key)}: 1 to 255 characters, no NUL")
        if not isinstance(prop, dict):
            raise InvalidArgument(f"{where} must be an object with a metadataType")
        kind = prop.get("metadataType")
        fields = _METADATA_FIELDS.get(kind) if isinstance(kind, str) else None
        if fields is None:
            raise InvalidArgument(
                f"{where}: invalid metadataType {shown(kind)}, must be one of {', '.join(_METADATA_FIELDS)}"
            )
        unknown = set(prop) - {"metadataType", *fields}
        if unknown:
            raise InvalidArgument(f'json: unknown field "{sorted(unknown)[0]}" in {where}')
        missing = [f for f in fields if f not in prop]
        if missing:
            raise InvalidArgument(f"{where}: {kind} needs {missing[0]}")
        out[key] = {"metadataType": kind, **{f: _property_value(where, f, prop[f]) for f in fields}}
    return out


def _property_value(where: str, name: str, value: object) -> object:
    if name == "int_value":
        if isinstance(value, str) and _INT_VALUE.fullmatch(value):
            return value
        raise InvalidArgument(f"{where}: int_value must be a string of an integer of at most 9 digits")
    if name == "double_value":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise InvalidArgument(f"{where}: double_value must be a number")
    if name == "bool_value":
        if isinstance(value, bool):
            return value
        raise InvalidArgument(f"{where}: bool_value must be true or false")
    return _string(f"{where}.{name}", value)


def decode(
    body: object, entity: Entity, allowed: Iterable[str], ignored: Iterable[str] = ()
) -> dict[str, Any]:
    """Validate a JSON object against `entity`, keeping only `allowed` fields; returns column -> value.

    `ignored` fields are accepted and dropped (output-only fields a full-schema body may repeat).
    A JSON null means "not sent", as it does for the upstream decoder.
    """
    if not isinstance(body, dict):
        raise InvalidArgument(f"request body must be a JSON object, got {_json_type(body)}")
    allowed_set = set(allowed)
    ignored_set = set(ignored)
    out: dict[str, Any] = {}
    for api, value in body.items():
        field = entity.by_api.get(api)
        if value is not None and api in ignored_set:
            # Output-only fields a full-schema body may repeat: checked for type, then dropped.
            kind = field.kind if field is not None else Kind.ID
            _decode_value(api, kind, field.values if field is not None else (), value)
            continue
        if field is None or api not in allowed_set:
            if api in ignored_set:
                continue
            raise InvalidArgument(f'json: unknown field "{api}"')
        if value is None:
            continue
        if value == "" and field.required:
            raise MissingField(f"required field '{api}' is zero value.")
        out[field.column] = _decode_value(api, field.kind, field.values, value)
    return out


# --- rendering ---------------------------------------------------------------------------------------

Renderer = Callable[[Row], dict[str, Any]]


def _json_text(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def renderer(entity: Entity, *, step_as_string: bool, omit: frozenset[str] = frozenset()) -> Renderer:
    """A function turning a stored row into the wire object, precomputed once per entity and version;
    `omit` names fields this version's schema does not have."""
    plan: list[tuple[str, str, Callable[[Any], Any]]] = []
    for f in entity.fields:
        if not f.render or f.api in omit:
            continue
        convert: Callable[[Any], Any]
        if f.kind in (Kind.ID, Kind.EPOCH):
            convert = str
        elif f.kind in (Kind.PROPS, Kind.STR_LIST):
            convert = _json_text
        elif f.kind is Kind.INT64:
            convert = str if step_as_string else int
        elif f.kind is Kind.DOUBLE:
            convert = float
        else:
            convert = _identity
        plan.append((f.api, f.column, convert))

    def render(row: Row) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for api, column, convert in plan:
            value = row[column]
            if value is not None:
                out[api] = convert(value)
        return out

    return render


def _identity(value: Any) -> Any:
    return value
