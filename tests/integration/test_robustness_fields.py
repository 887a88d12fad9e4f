"""Robustness of the Kubeflow face: fields of a JSON body that are wrong on their own.

Every write operation (`TARGETS`) is sent one mistake at a time: a value of the wrong type or outside its
enum, an unknown or read-only field, malformed customProperties, a NUL character in any string.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.integration.kf import V1, V1ALPHA3, props
from tests.integration.robustness import BOOL, DOUBLE, INT, STRING, TARGETS, Registry, World

# --- every write operation accepts its base body -------------------------------------------------------


def test_every_target_accepts_its_base_body(client: TestClient, world: World) -> None:
    """The bodies below only break one thing at a time; this proves the rest of each body is valid."""
    for target in TARGETS:
        response = client.request(target.method, target.url(world), json=target.payload(world))
        assert response.status_code == target.success, (target.key, response.text)


# --- fields of the wrong type ----------------------------------------------------------------------------


def rejects_field(registry: Registry, kind: str, values: list[Any], *fragments: str) -> None:
    """Every field of `kind` of every target, set to each of `values`, is rejected."""
    world = registry.world
    for target in TARGETS:
        for name in getattr(target, kind):
            for value in values:
                body = target.payload(world, **{name: value})
                registry.rejects(target.method, target.url(world), 400, *fragments, json=body)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([1, 1.5, -0.0], id="number"),
        pytest.param([True, False], id="boolean"),
        pytest.param([{}, {"a": "b"}], id="object"),
        pytest.param([[], ["text"]], id="array"),
    ],
)
def test_string_field_of_another_type_is_rejected(registry: Registry, values: list[Any]) -> None:
    rejects_field(registry, "strings", values)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(["en", ""], id="a string"),
        pytest.param([1, True, {}, {"en": "English"}], id="not an array"),
        pytest.param([[1], [None], [True], ["en", 2]], id="items not strings"),
        pytest.param([[["en"]], [{"en": "English"}]], id="nested"),
    ],
)
def test_string_list_field_of_another_shape_is_rejected(registry: Registry, values: list[Any]) -> None:
    rejects_field(registry, "lists", values)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param([1, 1.0, True, {}, [], ["1"]], id="not a string"),
        pytest.param(["abc", "1.0", "1e3", "0x1", "+1", "01", " 1", "1 ", "1\x00"], id="not a decimal id"),
        # a full-width 1 is a digit to Python, not to the spec's pattern
        pytest.param(["\uff11", "\u0661"], id="non-ASCII digits"),
        pytest.param(["0", "-1", "-2147483648"], id="not positive"),
        pytest.param(["2147483648", "4294967297", "99999999999999999999"], id="beyond int32"),
    ],
)
def test_id_field_that_is_not_an_int32_string_is_rejected(registry: Registry, values: list[Any]) -> None:
    rejects_field(registry, "ids", values)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(["", "BOGUS", "live", " LIVE", "LIVE ", "ARCHIVED\x00"], id="unknown string"),
        pytest.param([0, 1, True, [], ["LIVE"], {}], id="not a string"),
    ],
)
def test_enum_field_with_a_value_outside_the_enum_is_rejected(registry: Registry, values: list[Any]) -> None:
    rejects_field(registry, "enums", values)


METRIC = next(t for t in TARGETS if t.key == "upsert metric of a version")


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("value", ["0.5", "NaN", True, [], {}]),
        ("step", ["x", 1.5, "1.5", True, 1e30, "99999999999999999999", []]),
        ("timestamp", [1742371423079, "yesterday", "1.5", True, "99999999999999999999", {}]),
    ],
)
def test_metric_field_of_another_type_is_rejected(registry: Registry, name: str, values: list[Any]) -> None:
    for prefix in (V1, V1ALPHA3):  # step is a string on v1 and a number on v1alpha3
        for value in values:
            body = METRIC.payload(registry.world, **{name: value})
            registry.rejects("POST", METRIC.url(registry.world, prefix), json=body)


def test_metric_without_a_value_is_rejected(registry: Registry) -> None:
    body = {"artifactType": "metric", "name": "no-value"}
    registry.rejects("POST", f"{V1}/artifacts", json=body)
    registry.rejects("POST", f"{V1}/model_versions/{registry.world['v']}/artifacts", json=body)


FULL_SCHEMA_PATHS = ("/registered_models/{m}/versions", "/model_versions/{v}/artifacts")


def test_output_only_field_of_the_wrong_type_is_rejected_in_full_schema_bodies(registry: Registry) -> None:
    # The nested upserts take the full response schema, so timestamps may be repeated there, but a
    # timestamp is a string (of epoch milliseconds): any other JSON type is a type error, as upstream.
    world = registry.world
    for target in TARGETS:
        if target.path in FULL_SCHEMA_PATHS:
            for name in ("createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"):
                for value in (1742371423079, True, [], {}):
                    body = target.payload(world, **{name: value})
                    registry.rejects("POST", target.url(world), json=body)


def test_unknown_or_read_only_field_is_rejected_on_create_and_update(registry: Registry) -> None:
    world = registry.world
    for target in TARGETS:
        for name in ("id", "createTimeSinceEpoch", "bogus", "Name", "ext_id", ""):
            if target.path in FULL_SCHEMA_PATHS and name in ("id", "createTimeSinceEpoch"):
                continue  # the full schema has them
            value = "1" if name == "id" else "1742371423079" if name.endswith("Epoch") else "x"
            body = target.payload(world, **{name: value})
            registry.rejects(target.method, target.url(world), 400, "unknown field", json=body)


# --- customProperties --------------------------------------------------------------------------------------


def _one(**value: Any) -> dict[str, Any]:
    return {"p": value}


MALFORMED_PROPERTIES = {
    "not an object": [[], [{"metadataType": STRING, "string_value": "x"}], "accuracy=0.9", 1, True],
    "value not an object": [{"p": "x"}, {"p": 1}, {"p": None}, {"p": [STRING, "x"]}],
    "metadataType missing or unknown": [
        _one(string_value="x"),
        {"p": {}},
        _one(metadataType="MetadataFloatValue", double_value=1.0),
        _one(metadataType="metadatastringvalue", string_value="x"),
        _one(metadataType=1, string_value="x"),
        _one(metadataType=None, string_value="x"),
    ],
    "extra or missing keys": [
        _one(metadataType=STRING, string_value="x", note="y"),
        _one(metadataType=STRING, string_value="x", int_value="1"),
        _one(metadataType=STRING),
        _one(metadataType=INT, string_value="1"),
        _one(metadataType="MetadataProtoValue", proto_value="AA=="),
    ],
    "int_value not a string": [
        _one(metadataType=INT, int_value=10),
        _one(metadataType=INT, int_value=1.5),
        _one(metadataType=INT, int_value=None),
    ],
    "int_value beyond 9 digits": [
        _one(metadataType=INT, int_value="1234567890"),
        _one(metadataType=INT, int_value="2147483648"),
        _one(metadataType=INT, int_value="-99999999999"),
    ],
    "int_value not an integer": [
        _one(metadataType=INT, int_value=text)
        for text in ("ten", "", "1.5", "+1", "01", " 1", "1e3", "0x1", "\uff11")
    ],
    "double_value not a number": [
        _one(metadataType=DOUBLE, double_value="0.9"),
        _one(metadataType=DOUBLE, double_value=True),
        _one(metadataType=DOUBLE, double_value=None),
    ],
    "bool_value not a boolean": [
        _one(metadataType=BOOL, bool_value="true"),
        _one(metadataType=BOOL, bool_value=1),
        _one(metadataType=BOOL, bool_value=None),
    ],
    "string values not strings": [
        _one(metadataType=STRING, string_value=1),
        _one(metadataType=STRING, string_value={}),
        _one(metadataType=STRING, string_value=None),
        _one(metadataType="MetadataStructValue", struct_value=1),
        _one(metadataType="MetadataProtoValue", type=1, proto_value="AA=="),
    ],
    "bad names": [
        {"": {"metadataType": STRING, "string_value": "x"}},
        {"p" * 256: {"metadataType": STRING, "string_value": "x"}},
    ],
    "one bad among good ones": [
        {**props(a="x", b=1, c=0.5, d=True), "e": {"metadataType": INT, "int_value": "x"}},
    ],
}


@pytest.mark.parametrize("values", MALFORMED_PROPERTIES.values(), ids=MALFORMED_PROPERTIES.keys())
def test_malformed_custom_properties_are_rejected(registry: Registry, values: list[Any]) -> None:
    world = registry.world
    for target in TARGETS:
        for value in values:
            body = target.payload(world, customProperties=value)
            registry.rejects(target.method, target.url(world), json=body)


# --- NUL characters ----------------------------------------------------------------------------------------


def test_nul_in_any_string_field_is_rejected(registry: Registry) -> None:
    world = registry.world
    for target in TARGETS:
        for name in (*target.strings, *target.lists):
            value: Any = ["a\x00b"] if name in target.lists else "a\x00b"
            body = target.payload(world, **{name: value})
            registry.rejects(target.method, target.url(world), 400, "NUL", json=body)


def test_nul_in_custom_properties_is_rejected(registry: Registry) -> None:
    world = registry.world
    for value in [
        {"a\x00b": {"metadataType": STRING, "string_value": "x"}},
        {"\x00": {"metadataType": STRING, "string_value": "x"}},
        _one(metadataType=STRING, string_value="x\x00"),
        _one(metadataType="MetadataStructValue", struct_value="\x00"),
        _one(metadataType="MetadataProtoValue", type="t\x00", proto_value="AA=="),
    ]:
        for target in TARGETS:
            body = target.payload(world, customProperties=value)
            registry.rejects(target.method, target.url(world), 400, "NUL", json=body)
