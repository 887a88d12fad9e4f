"""Robustness of the Kubeflow face: request bodies as JSON documents.

A body that is not one JSON object (broken syntax, another type, another encoding), one nested too deep
or one over the size limit is a clear 4xx that changes nothing; duplicate keys keep the last value.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from starlette.testclient import TestClient

from tests.integration.kf import V1, V1ALPHA3, model, ok
from tests.integration.robustness import INT, TARGETS, Registry, assert_error_body

# --- bodies that are not a JSON object -------------------------------------------------------------------

NOT_AN_OBJECT = {
    "broken JSON": b"{",
    "missing value": b'{"name": }',
    "trailing comma": b'{"name": "x",}',
    "single quotes": b"{'name': 'x'}",
    "comment": b'{"name": "x" /* c */}',
    "trailing garbage": b'{"name": "x"} x',
    "two documents": b'{"name": "x"}{"name": "y"}',
    "empty": b"",
    "whitespace": b" \n\t ",
    "array": b"[]",
    "array of objects": b'[{"name": "x"}]',
    "string": b'"name"',
    "number": b"42",
    "null": b"null",
    "boolean": b"true",
    "NaN": b'{"name": NaN}',
    "Infinity": b'{"name": "x", "description": Infinity}',
    "number out of double range": b'{"name": "x", "customProperties": {"p": '
    b'{"metadataType": "MetadataDoubleValue", "double_value": 1e400}}}',
    "invalid UTF-8": b'{"name": "\xff\xfe"}',
    "lone surrogate escape": b'{"name": "\\ud800"}',
    "UTF-8 byte order mark": b'\xef\xbb\xbf{"name": "x"}',
    "UTF-16": '{"name": "x"}'.encode("utf-16"),
}


@pytest.mark.parametrize("raw", NOT_AN_OBJECT.values(), ids=NOT_AN_OBJECT.keys())
def test_body_that_is_not_a_json_object_is_rejected(registry: Registry, raw: bytes) -> None:
    for target in TARGETS:
        for prefix in (V1, V1ALPHA3):
            registry.rejects(
                target.method,
                target.url(registry.world, prefix),
                content=raw,
                headers={"content-type": "application/json"},
            )


# --- sizes -------------------------------------------------------------------------------------------------


def test_body_larger_than_the_limit_is_413(registry: Registry) -> None:
    world = registry.world
    huge = "x" * (1024 * 1024)
    for target in TARGETS:
        raw = orjson.dumps(target.payload(world, description=huge))
        registry.rejects(target.method, target.url(world), 413, content=raw)

        def chunks(raw: bytes = raw) -> Iterator[bytes]:  # streamed: no Content-Length to trust
            for start in range(0, len(raw), 64 * 1024):
                yield raw[start : start + 64 * 1024]

        registry.rejects(target.method, target.url(world), 413, content=chunks())


def test_body_just_under_the_limit_is_accepted_whole(client: TestClient) -> None:
    description = "d" * (1024 * 1024 - 200)
    created = model(client, "big", description=description)
    assert created["description"] == description
    assert ok(client.get(f"{V1}/registered_models/{created['id']}"))["description"] == description


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


DEEP_VALUES = {
    "arrays, 100000 deep": _nested(100_000),
    "arrays, 2000 deep": _nested(2_000),
    "objects, 2000 deep": b'{"a":' * 2_000 + b"1" + b"}" * 2_000,
}


@pytest.mark.parametrize("deep", DEEP_VALUES.values(), ids=DEEP_VALUES.keys())
def test_very_deep_json_is_rejected(registry: Registry, deep: bytes) -> None:
    world = registry.world
    for target in TARGETS:
        registry.rejects(target.method, target.url(world), content=deep)
        for name in ("description", "customProperties"):
            raw = orjson.dumps(target.payload(world))
            raw = raw[:-1] + (b"," if raw != b"{}" else b"") + f'"{name}":'.encode() + deep + b"}"
            registry.rejects(target.method, target.url(world), content=raw)


# --- duplicate keys ----------------------------------------------------------------------------------------


def test_duplicate_json_keys_keep_the_last_value_as_upstream_does(client: TestClient) -> None:
    raw = b'{"name": "first", "description": "a", "name": "last", "description": "b"}'
    created = ok(client.post(f"{V1}/registered_models", content=raw), 201)
    assert (created["name"], created["description"]) == ("last", "b")
    assert ok(client.get(f"{V1}/registered_model", params={"name": "last"})) == created
    assert_error_body(client.get(f"{V1}/registered_model", params={"name": "first"}), 404)
    raw = (
        b'{"customProperties": {"p": {"metadataType": "MetadataStringValue", "string_value": "a"},'
        b' "p": {"metadataType": "MetadataIntValue", "int_value": "2"}}}'
    )
    patched = ok(client.patch(f"{V1}/registered_models/{created['id']}", content=raw))
    assert patched["customProperties"] == {"p": {"metadataType": INT, "int_value": "2"}}
