"""Custom properties: a map from name to a typed value, kept as the Kubeflow API writes it.

The map is stored as it was received, `{"metadataType": "MetadataIntValue", "int_value": "3"}` and so on,
so that reading an entity is one row and gives back exactly what was written (struct and proto values
included). Filters need the value itself, typed: `PropertyValue` is that view, and the store indexes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """The value of a custom property as filters compare it; all None for a struct or a proto value."""

    text: str | None = None
    integer: int | None = None
    double: float | None = None
    boolean: bool | None = None


def property_value(value: Mapping[str, Any]) -> PropertyValue:
    kind = value.get("metadataType")
    if kind == "MetadataStringValue":
        return PropertyValue(text=value["string_value"])
    if kind == "MetadataIntValue":
        return PropertyValue(integer=int(value["int_value"]))  # a string of digits, as in the API
    if kind == "MetadataDoubleValue":
        return PropertyValue(double=float(value["double_value"]))
    if kind == "MetadataBoolValue":
        return PropertyValue(boolean=bool(value["bool_value"]))
    return PropertyValue()


def property_values(properties: Mapping[str, Mapping[str, Any]]) -> dict[str, PropertyValue]:
    return {name: property_value(value) for name, value in properties.items()}
