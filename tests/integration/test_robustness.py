"""Robustness of the Kubeflow face: malformed requests are clear 4xx answers and never leave a trace.

Every rejected request must answer with the documented status and a JSON `{code, message}` body, never a
5xx, and must leave the registry exactly as it was: after each rejection every table is compared with its
state before, and at the end of the test every list the API offers is compared too. Unicode and long
values, in contrast, must be accepted and come back byte for byte.

Most tests send one kind of mistake to every write operation (`TARGETS`), so a new operation or field
added there is covered by all of them at once.
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from modelshelf.services import records
from modelshelf.store.tables import metadata
from tests.integration.kf import V1, V1ALPHA3, artifact, model, ok, props, version

World = dict[str, str]

# --- the registry every test starts from ----------------------------------------------------------------


@pytest.fixture
def world(client: TestClient) -> World:
    """One of each entity: a model with a version holding an artifact, served by a service in an env."""
    m = model(client, "world-model")["id"]
    v = version(client, m, "world-version")["id"]
    a = artifact(client, v, name="world-artifact", uri="s3://world/model")["id"]
    se = ok(client.post(f"{V1}/serving_environments", json={"name": "world-env"}), 201)["id"]
    service = {
        "name": "world-service",
        "registeredModelId": m,
        "servingEnvironmentId": se,
        "modelVersionId": v,
    }
    svc = ok(client.post(f"{V1}/inference_services", json=service), 201)["id"]
    ok(client.post(f"{V1}/inference_services/{svc}/serves", json={"modelVersionId": v}), 201)
    return {"m": m, "v": v, "a": a, "se": se, "svc": svc}


def snapshot(client: TestClient, world: World) -> dict[str, Any]:
    """Everything a client can list, including the links between versions and artifacts."""
    paths = [
        "/registered_models",
        "/model_versions",
        "/artifacts",
        "/serving_environments",
        "/inference_services",
        f"/inference_services/{world['svc']}/serves",
        f"/model_versions/{world['v']}/artifacts",
    ]
    return {path: ok(client.get(V1 + path)) for path in paths}


def assert_error_body(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    where = f"{response.request.method} {response.request.url}"
    assert response.status_code == status, (where, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), (where, response.headers)
    body = response.json()
    assert set(body) == {"code", "message"}, (where, body)
    assert isinstance(body["code"], str) and isinstance(body["message"], str), (where, body)
    assert body["message"], (where, body)
    # 422 keeps upstream's "Bad Request" code; every other code is the reason phrase.
    assert body["code"] == ("Bad Request" if status == 422 else HTTPStatus(status).phrase), (where, body)
    for fragment in fragments:
        assert fragment in body["message"], (where, fragment, body)
    return dict(body)


def stored_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read straight from the database: a failed request must change none."""
    with engine.connect() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))]
            for table in metadata.sorted_tables
        }


class Registry:
    """Sends requests that must fail and checks that none of them changes anything.

    After each request every table is compared with its state before the first one; at the end of the
    test (in the fixture) every list the API offers is compared too.
    """

    def __init__(self, client: TestClient, engine: Engine, world: World) -> None:
        self.client = client
        self.engine = engine
        self.world = world
        self.rebase()

    def rebase(self) -> None:
        """Take the current state as the one to keep (after a deliberate, successful change)."""
        self.rows = stored_rows(self.engine)
        self.lists = snapshot(self.client, self.world)

    def rejects(self, method: str, url: str, status: int = 400, *fragments: str, **kwargs: Any) -> None:
        response = self.client.request(method, url, **kwargs)
        assert_error_body(response, status, *fragments)
        assert self.database_unchanged(), f"{method} {url} was rejected but changed the database"

    def database_unchanged(self) -> bool:
        return stored_rows(self.engine) == self.rows

    def assert_lists_unchanged(self) -> None:
        assert snapshot(self.client, self.world) == self.lists, (
            "a rejected request changed what the API lists"
        )


@pytest.fixture
def registry(client: TestClient, engine: Engine, world: World) -> Iterator[Registry]:
    registry = Registry(client, engine, world)
    yield registry
    if registry.database_unchanged():  # otherwise the test has failed already, and said why
        registry.assert_lists_unchanged()


# --- every write operation, with a minimal body it accepts --------------------------------------------

RM_STRINGS = (
    "description",
    "externalId",
    "owner",
    "readme",
    "maturity",
    "provider",
    "logo",
    "license",
    "licenseLink",
    "libraryName",
)
MA_STRINGS = (
    "description",
    "externalId",
    "uri",
    "modelFormatName",
    "modelFormatVersion",
    "storageKey",
    "storagePath",
    "serviceAccountName",
    "modelSourceKind",
    "modelSourceClass",
    "modelSourceGroup",
    "modelSourceId",
    "modelSourceName",
)
ARTIFACT_STRINGS = ("description", "externalId", "uri")


@dataclass(frozen=True)
class Target:
    key: str
    method: str
    path: str
    body: dict[str, Any]
    strings: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    enums: tuple[str, ...] = ()
    success: int = 201

    def url(self, world: World, prefix: str = V1) -> str:
        return prefix + self.path.format(**world)

    def payload(self, world: World, **fields: Any) -> dict[str, Any]:
        base = {k: v.format(**world) if isinstance(v, str) else v for k, v in self.body.items()}
        return {**base, **fields}


TARGETS = [
    Target(
        "create registered model",
        "POST",
        "/registered_models",
        {"name": "new-model"},
        ("name", *RM_STRINGS),
        ("language", "tasks"),
        enums=("state",),
    ),
    Target(
        "update registered model",
        "PATCH",
        "/registered_models/{m}",
        {},
        RM_STRINGS,
        ("language", "tasks"),
        enums=("state",),
        success=200,
    ),
    Target(
        "create model version",
        "POST",
        "/model_versions",
        {"name": "new-version", "registeredModelId": "{m}"},
        ("name", "description", "externalId", "author"),
        ids=("registeredModelId",),
        enums=("state",),
    ),
    Target(
        "create version of a model",
        "POST",
        "/registered_models/{m}/versions",
        {"name": "new-nested-version"},
        ("name", "description", "externalId", "author"),
        ids=("registeredModelId", "id"),
        enums=("state",),
    ),
    Target(
        "update model version",
        "PATCH",
        "/model_versions/{v}",
        {},
        ("description", "externalId", "author"),
        enums=("state",),
        success=200,
    ),
    Target(
        "create artifact",
        "POST",
        "/artifacts",
        {"artifactType": "model-artifact", "name": "new-artifact"},
        ("name", *MA_STRINGS),
        enums=("state", "artifactType"),
    ),
    Target(
        "upsert artifact of a version",
        "POST",
        "/model_versions/{v}/artifacts",
        {"artifactType": "model-artifact", "name": "new-nested-artifact"},
        ("name", *MA_STRINGS),
        ids=("id",),
        enums=("state", "artifactType"),
    ),
    Target(
        "update artifact",
        "PATCH",
        "/artifacts/{a}",
        {"artifactType": "model-artifact"},
        MA_STRINGS,
        enums=("state", "artifactType"),
        success=200,
    ),
    Target(
        "create model artifact",
        "POST",
        "/model_artifacts",
        {"name": "new-model-artifact"},
        ("name", *MA_STRINGS),
        enums=("state", "artifactType"),
    ),
    Target(
        "update model artifact",
        "PATCH",
        "/model_artifacts/{a}",
        {},
        MA_STRINGS,
        enums=("state", "artifactType"),
        success=200,
    ),
    Target(
        "upsert metric of a version",
        "POST",
        "/model_versions/{v}/artifacts",
        {"artifactType": "metric", "name": "new-metric", "value": 0.5},
        ("name", *ARTIFACT_STRINGS),
        enums=("state",),
    ),
    Target(
        "create parameter",
        "POST",
        "/artifacts",
        {"artifactType": "parameter", "name": "new-parameter", "value": "0.1"},
        ("name", "value", *ARTIFACT_STRINGS),
        enums=("state", "parameterType"),
    ),
    Target(
        "create dataset",
        "POST",
        "/artifacts",
        {"artifactType": "dataset-artifact", "name": "new-dataset"},
        ("name", "digest", "sourceType", "source", "schema", "profile", *ARTIFACT_STRINGS),
        enums=("state",),
    ),
    Target(
        "create serving environment",
        "POST",
        "/serving_environments",
        {"name": "new-env"},
        ("name", "description", "externalId"),
    ),
    Target(
        "update serving environment",
        "PATCH",
        "/serving_environments/{se}",
        {},
        ("description", "externalId"),
        success=200,
    ),
    Target(
        "create inference service",
        "POST",
        "/inference_services",
        {"name": "new-service", "registeredModelId": "{m}", "servingEnvironmentId": "{se}"},
        ("name", "description", "externalId", "runtime"),
        ids=("registeredModelId", "servingEnvironmentId", "modelVersionId"),
        enums=("desiredState",),
    ),
    Target(
        "create inference service in an environment",
        "POST",
        "/serving_environments/{se}/inference_services",
        {"name": "new-nested-service", "registeredModelId": "{m}"},
        ("name", "description", "externalId", "runtime"),
        ids=("registeredModelId", "servingEnvironmentId", "modelVersionId"),
        enums=("desiredState",),
    ),
    Target(
        "update inference service",
        "PATCH",
        "/inference_services/{svc}",
        {},
        ("description", "externalId", "runtime"),
        ids=("modelVersionId",),
        enums=("desiredState",),
        success=200,
    ),
    Target(
        "create serve",
        "POST",
        "/inference_services/{svc}/serves",
        {"modelVersionId": "{v}"},
        ("name", "description", "externalId"),
        ids=("modelVersionId",),
        enums=("lastKnownState",),
    ),
]
CREATES = [t for t in TARGETS if t.method == "POST"]
UPDATES = [t for t in TARGETS if t.method == "PATCH"]


def test_every_target_accepts_its_base_body(client: TestClient, world: World) -> None:
    """The bodies below only break one thing at a time; this proves the rest of each body is valid."""
    for target in TARGETS:
        response = client.request(target.method, target.url(world), json=target.payload(world))
        assert response.status_code == target.success, (target.key, response.text)


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

STRING = "MetadataStringValue"
INT = "MetadataIntValue"
DOUBLE = "MetadataDoubleValue"
BOOL = "MetadataBoolValue"


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


LIST_PATHS = [
    "/registered_models",
    "/registered_models/{m}/versions",
    "/model_versions",
    "/model_versions/{v}/artifacts",
    "/artifacts",
    "/model_artifacts",
    "/serving_environments",
    "/serving_environments/{se}/inference_services",
    "/inference_services",
    "/inference_services/{svc}/serves",
]


@pytest.mark.parametrize(
    "requests",
    [
        pytest.param(
            [
                ("/registered_models", {"filterQuery": "name = 'a\x00'"}),
                ("/registered_models", {"pageSize": "1\x00"}),
                ("/registered_models", {"orderBy": "ID\x00"}),
                ("/registered_models", {"sortOrder": "ASC\x00"}),
                ("/registered_models", {"nextPageToken": "\x00"}),
                ("/artifacts", {"artifactType": "metric\x00"}),
                ("/registered_models/{m}/versions", {"name": "world-version\x00"}),
                ("/model_versions/{v}/artifacts", {"externalId": "\x00"}),
            ],
            id="list parameters",
        ),
        pytest.param(
            [
                ("/registered_model", {"name": "world-model\x00"}),
                ("/registered_model", {"externalId": "\x00"}),
                ("/serving_environment", {"name": "\x00world-env"}),
                ("/model_version", {"name": "world-version", "parentResourceId": "{m}\x00"}),
                ("/artifact", {"name": "world-artifact\x00", "parentResourceId": "{v}"}),
                ("/model_artifact", {"externalId": "\x00"}),
                ("/inference_service", {"name": "world-service", "parentResourceId": "\x00"}),
            ],
            id="find parameters",
        ),
        # upstream's validation middleware rejects a NUL anywhere in the query string
        pytest.param(
            [
                ("/registered_models", {"unused": "\x00"}),
                ("/registered_model", {"name": "x", "un\x00used": "1"}),
            ],
            id="anywhere in the query",
        ),
    ],
)
def test_nul_in_a_query_parameter_is_rejected(
    registry: Registry, requests: list[tuple[str, dict[str, str]]]
) -> None:
    world = registry.world
    for path, params in requests:
        query = {k: v.format(**world) for k, v in params.items()}
        registry.rejects("GET", V1 + path.format(**world), params=query)


# --- ids in paths and queries ------------------------------------------------------------------------------

ID_PATHS = [
    ("GET", "/registered_models/{}"),
    ("PATCH", "/registered_models/{}"),
    ("GET", "/registered_models/{}/versions"),
    ("POST", "/registered_models/{}/versions"),
    ("GET", "/model_versions/{}"),
    ("PATCH", "/model_versions/{}"),
    ("GET", "/model_versions/{}/artifacts"),
    ("POST", "/model_versions/{}/artifacts"),
    ("GET", "/artifacts/{}"),
    ("PATCH", "/artifacts/{}"),
    ("GET", "/model_artifacts/{}"),
    ("PATCH", "/model_artifacts/{}"),
    ("GET", "/serving_environments/{}"),
    ("PATCH", "/serving_environments/{}"),
    ("GET", "/serving_environments/{}/inference_services"),
    ("POST", "/serving_environments/{}/inference_services"),
    ("GET", "/inference_services/{}"),
    ("PATCH", "/inference_services/{}"),
    ("GET", "/inference_services/{}/model"),
    ("GET", "/inference_services/{}/version"),
    ("GET", "/inference_services/{}/serves"),
    ("POST", "/inference_services/{}/serves"),
]
# A body each write above would accept if the id in its path existed.
ID_PATH_BODIES = {
    "/registered_models/{}/versions": {"name": "orphan"},
    "/model_versions/{}/artifacts": {"artifactType": "model-artifact", "name": "orphan"},
    "/artifacts/{}": {"artifactType": "model-artifact"},
    "/serving_environments/{}/inference_services": {"name": "orphan", "registeredModelId": "1"},
    "/inference_services/{}/serves": {"modelVersionId": "1"},
}


def rejects_path_ids(registry: Registry, ids: list[str], status: int) -> None:
    for id_ in ids:
        for method, path in ID_PATHS:
            body = ID_PATH_BODIES.get(path, {}) if method != "GET" else None
            registry.rejects(method, V1 + path.format(id_), status, json=body)


@pytest.mark.parametrize(
    "ids",
    [
        pytest.param(["abc", "1.5", "1e3", "0x1", "%20", "1%00", "%EF%BC%91"], id="not a decimal id"),
        pytest.param(["0", "-1", "01"], id="zero, negative or zero-padded"),
        pytest.param(["2147483648", "4294967297", "99999999999999999999"], id="beyond int32"),
    ],
)
def test_malformed_id_in_a_path_is_rejected(registry: Registry, ids: list[str]) -> None:
    rejects_path_ids(registry, ids, 400)


def test_well_formed_unknown_id_in_a_path_is_not_found(registry: Registry) -> None:
    rejects_path_ids(registry, ["999", "2147483647"], 404)


def test_malformed_parent_resource_id_is_rejected(registry: Registry) -> None:
    finds = [
        ("/model_version", "world-version"),
        ("/artifact", "world-artifact"),
        ("/model_artifact", "world-artifact"),
        ("/inference_service", "world-service"),
    ]
    for parent in ["0", "-1", "abc", "1.5", "01", " 1", "2147483648", "99999999999999999999", "\uff11"]:
        for path, name in finds:
            registry.rejects("GET", V1 + path, params={"name": name, "parentResourceId": parent})


# --- list parameters ---------------------------------------------------------------------------------------


def rejects_list_params(registry: Registry, params: list[dict[str, str]], *fragments: str) -> None:
    for query in params:
        for path in LIST_PATHS:
            registry.rejects("GET", V1 + path.format(**registry.world), 400, *fragments, params=query)


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param(["-1", "-2147483648"], id="negative"),
        pytest.param(["abc", "1.5", "1e3", "0x10", "true"], id="not a number"),
        pytest.param([" 1", "1 ", "\uff11", "\u0661"], id="padded or non-ASCII digits"),
        pytest.param(["2147483648", "99999999999999999999"], id="beyond int32"),
    ],
)
def test_bad_page_size_is_rejected(registry: Registry, sizes: list[str]) -> None:
    rejects_list_params(registry, [{"pageSize": size} for size in sizes])


@pytest.mark.parametrize("page_size", ["+1", "01"])
def test_unusual_but_numeric_page_size_is_rejected_or_applied_as_echoed(
    client: TestClient, world: World, page_size: str
) -> None:
    model(client, "second-model")
    response = client.get(f"{V1}/registered_models", params={"pageSize": page_size})
    if response.status_code == 400:
        assert_error_body(response, 400)
        return
    page = ok(response)
    # whatever page size the server applied is the one it reports
    assert page["size"] == 1 and page["pageSize"] == 1 and page["nextPageToken"], page


def test_bad_ordering_is_rejected(registry: Registry) -> None:
    params = [{"orderBy": value} for value in ("NAME", "id", "CREATE_TIME ", "1")]
    params += [{"sortOrder": value} for value in ("asc", "DOWN", "1")]
    rejects_list_params(registry, params)


def _token(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "tokens",
    [
        pytest.param(
            [
                "!!!",
                "A" * 2000,
                _token("12"),
                _token(":"),
                _token("1:"),
                _token("1:1:1"),
                _token("abc:1"),
                _token("1:abc"),
                base64.b64encode(b"\xff\xfe:1").decode(),
            ],
            id="malformed",
        ),
        # decodable, but no page boundary can have these ids or values: ids are int32, times int64
        pytest.param(
            [
                _token("2147483648:1"),
                _token("99999999999999999999:1"),
                _token("1:99999999999999999999999"),
                _token("-9223372036854775809:1"),
            ],
            id="out of range",
        ),
    ],
)
def test_bad_next_page_token_is_rejected(registry: Registry, tokens: list[str]) -> None:
    params = [
        {"nextPageToken": token, "orderBy": order_by, "pageSize": "1"}
        for token in tokens
        for order_by in ("ID", "CREATE_TIME", "LAST_UPDATE_TIME")
    ]
    rejects_list_params(registry, params)


def test_bad_artifact_type_parameter_is_rejected(registry: Registry) -> None:
    for artifact_type in ("", "model", "Model-Artifact", "model-artifact ", "experiment-run"):
        for path in ("/artifacts", "/model_versions/{v}/artifacts"):
            url = V1 + path.format(**registry.world)
            registry.rejects("GET", url, params={"artifactType": artifact_type})


# --- filterQuery -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "queries",
    [
        pytest.param(
            ["name", "name =", "name LIKE", "name = 'a' AND", "AND name = 'a'", "()"], id="incomplete"
        ),
        pytest.param(
            ["name = 'a", 'name = "a', "`name = 'a'", "(name = 'a'", "name = 'a')"], id="unterminated"
        ),
        pytest.param(
            ["= 'a'", "1 = 1", "'a' = name", "name == 'a'", "name = 'a' name = 'b'"], id="misplaced"
        ),
        pytest.param(
            ["name = 'a' OR OR name = 'b'", "name = 1.2.3", "name.string_value.x = 'a'."], id="garbled"
        ),
        pytest.param(
            ["name = a", "name IN 'a'", "name IN ('a'", "name IN ('a',)", "name = ()"], id="bad values"
        ),
        pytest.param(["name ~ 'a'", "name = 'a'; DROP TABLE x", "\u00fc = 1"], id="unknown characters"),
        pytest.param(["NOT name = 'a'", "name IS NULL", "name BETWEEN 'a' AND 'b'"], id="unsupported SQL"),
    ],
)
def test_filter_with_a_syntax_error_is_rejected(registry: Registry, queries: list[str]) -> None:
    rejects_list_params(registry, [{"filterQuery": query} for query in queries], "invalid filter")


@pytest.mark.parametrize(
    "queries",
    [
        pytest.param(["id = 'abc'", "id > 1.5", "id = true", "id LIKE '1%'", "id IN ('a', 1)"], id="ids"),
        pytest.param(["createTimeSinceEpoch = 'yesterday'", "name = true", "name LIKE 1"], id="columns"),
        pytest.param(
            ["p.int_value = 'a'", "p.int_value = 1.5", "p.bool_value = 3", "p.double_value = 'a'"],
            id="typed properties",
        ),
        pytest.param(["id = 99999999999999999999", "p = 1e400", "p = -1e400"], id="numbers beyond 64 bits"),
    ],
)
def test_filter_with_a_value_of_the_wrong_type_is_rejected(registry: Registry, queries: list[str]) -> None:
    rejects_list_params(registry, [{"filterQuery": query} for query in queries], "invalid filter")


def test_filter_beyond_the_limits_is_rejected(registry: Registry) -> None:
    queries = [
        "(" * 3000 + "name = 'a'" + ")" * 3000,
        " OR ".join(["name = 'a'"] * 3000),
        "id IN (" + ",".join(["1"] * 6000) + ")",
    ]
    for query in queries:
        for path in ("/registered_models", "/model_versions/{v}/artifacts", "/inference_services"):
            url = V1 + path.format(**registry.world)
            registry.rejects("GET", url, 400, "invalid filter", params={"filterQuery": query})


def test_filter_with_an_integer_beyond_the_column_range_is_answered(client: TestClient, world: World) -> None:
    """No stored value can match such a number: the answer is an empty list or a 400, never a 500."""
    queries = [
        "id = 2147483648",
        "id > 9223372036854775807",
        "id < -9223372036854775808",
        "id IN (2147483648, 3000000000)",
        "registeredModelId = 3000000000",
        "modelVersionId = -2147483649",
        "servingEnvironmentId = 4294967297",
        "createTimeSinceEpoch > 9223372036854775807",
        "p.int_value = 9223372036854775807",
    ]
    for query in queries:
        for path in LIST_PATHS:
            response = client.get(V1 + path.format(**world), params={"filterQuery": query})
            if response.status_code == 400:
                assert_error_body(response, 400, "invalid filter")
                continue
            assert response.status_code == 200, (path, query, response.status_code, response.text[:300])
            assert response.json()["items"] == [], (path, query)


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


def test_long_strings_round_trip(client: TestClient, world: World) -> None:
    long_properties = {
        "k" * 255: {"metadataType": STRING, "string_value": "v" * 200_000},
        "short": {"metadataType": STRING, "string_value": "é" * 50_000},
    }
    created = model(
        client,
        "n" * 255,
        description="d" * 300_000,
        externalId="e" * 255,
        readme="r" * 100_000,
        language=["l" * 10_000] * 3,
        customProperties=long_properties,
    )
    assert created["name"] == "n" * 255 and created["externalId"] == "e" * 255
    assert created["customProperties"] == long_properties
    assert ok(client.get(f"{V1}/registered_models/{created['id']}")) == created
    emoji = model(client, "😀" * 255, externalId="é" * 255)  # 255 characters, 1020 and 510 bytes
    assert ok(client.get(f"{V1}/registered_model", params={"name": "😀" * 255})) == emoji
    uri = "s3://bucket/" + "p/" * 50_000
    stored = artifact(client, world["v"], name="long-uri", uri=uri)
    assert ok(client.get(f"{V1}/artifacts/{stored['id']}"))["uri"] == uri


def test_name_or_external_id_longer_than_255_characters_is_rejected(registry: Registry) -> None:
    world = registry.world
    too_long = [
        ("POST", "/registered_models", {}, "name", "n" * 256),
        ("POST", "/registered_models", {"name": "x"}, "externalId", "e" * 256),
        ("POST", "/registered_models", {"name": "x"}, "externalId", "é" * 256),
        ("PATCH", "/registered_models/{m}", {}, "externalId", "e" * 256),
        ("POST", "/serving_environments", {}, "name", "n" * 256),
        ("PATCH", "/serving_environments/{se}", {}, "externalId", "e" * 256),
        ("POST", "/model_versions", {"registeredModelId": "{m}"}, "name", "n" * 256),
        ("POST", "/model_versions", {"registeredModelId": "{m}", "name": "x"}, "externalId", "e" * 256),
        ("PATCH", "/model_versions/{v}", {}, "externalId", "e" * 256),
        ("POST", "/artifacts", {"artifactType": "model-artifact"}, "name", "n" * 256),
        ("POST", "/artifacts", {"artifactType": "doc-artifact"}, "externalId", "e" * 256),
        ("PATCH", "/artifacts/{a}", {"artifactType": "model-artifact"}, "externalId", "e" * 256),
        ("POST", "/model_versions/{v}/artifacts", {"artifactType": "model-artifact"}, "name", "n" * 256),
        (
            "POST",
            "/inference_services",
            {"registeredModelId": "{m}", "servingEnvironmentId": "{se}"},
            "name",
            "n" * 256,
        ),
        ("PATCH", "/inference_services/{svc}", {}, "externalId", "e" * 256),
        ("POST", "/inference_services/{svc}/serves", {"modelVersionId": "{v}"}, "externalId", "e" * 256),
    ]
    for method, path, body, name, value in too_long:
        payload = {k: v.format(**world) for k, v in body.items()} | {name: value}
        registry.rejects(method, V1 + path.format(**world), 400, json=payload)


# --- unicode -----------------------------------------------------------------------------------------------

UNICODE = {
    "chinese": "模型注册表",
    "japanese": "機械学習モデル・カタカナ",
    "korean": "한국어 모델",
    "arabic (RTL)": "نموذج التعلم الآلي",
    "hebrew with bidi marks": "\u200fמודל\u200e-2",  # noqa: RUF001
    "devanagari": "मशीन लर्निंग",
    "emoji": "🤖🚀🔥",
    "emoji sequences": "👩\u200d👩\u200d👧\u200d👦 🇯🇵 👍🏽",
    "astral math": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",  # noqa: RUF001
    "combining marks (NFD)": unicodedata.normalize("NFD", "Crème brûlée"),
    "zero-width and BOM": "a\u200bb\u2060c\ufeffd",
    "mixed scripts": "model-v2 模型 نموذج 🤖",
    "control characters": "tab\there\nnew line\r\x7f\x1b",
    "quotes and backslashes": 'it\'s "quoted" \\ `back`',
}


@pytest.mark.parametrize("text", UNICODE.values(), ids=UNICODE.keys())
def test_unicode_round_trips_exactly_on_a_registered_model(client: TestClient, text: str) -> None:
    key = text.replace("`", "").replace("\\", "")
    created = model(
        client,
        text,
        description=text * 3,
        owner=text,
        externalId=text + "-ext",
        language=[text, "en"],
        tasks=[text],
        customProperties={
            key: {"metadataType": STRING, "string_value": text},
            key + "-int": {"metadataType": INT, "int_value": "7"},
        },
    )
    assert created["name"] == text and created["description"] == text * 3 and created["owner"] == text
    assert created["language"] == [text, "en"] and created["tasks"] == [text]
    assert created["customProperties"][key] == {"metadataType": STRING, "string_value": text}
    url = f"{V1}/registered_models/{created['id']}"
    assert ok(client.get(url)) == created
    assert ok(client.get(f"{V1}/registered_model", params={"name": text})) == created
    assert ok(client.get(f"{V1}/registered_model", params={"externalId": text + "-ext"})) == created
    patched = ok(client.patch(url, json={"description": text[::-1]}))
    assert patched["description"] == text[::-1] and patched["customProperties"] == created["customProperties"]
    if "'" not in text and "\\" not in text:  # a quoted filter literal cannot carry these as they are
        found = ok(client.get(f"{V1}/registered_models", params={"filterQuery": f"name = '{text}'"}))
        assert [item["id"] for item in found["items"]] == [created["id"]]
        by_property = f"`{key}` = '{text}'"
        found = ok(client.get(f"{V1}/registered_models", params={"filterQuery": by_property}))
        assert [item["id"] for item in found["items"]] == [created["id"]]


@pytest.mark.parametrize("text", UNICODE.values(), ids=UNICODE.keys())
def test_unicode_round_trips_exactly_on_every_entity(client: TestClient, text: str) -> None:
    custom = {text: {"metadataType": STRING, "string_value": text}}
    registered = model(client, "m-" + text)
    created_version = version(client, registered["id"], "v-" + text, author=text, customProperties=custom)
    stored = artifact(client, created_version["id"], name="a-" + text, uri=text, customProperties=custom)
    metric = artifact(client, created_version["id"], artifactType="metric", name="μ-" + text, value=1.0)
    env = ok(client.post(f"{V1}/serving_environments", json={"name": "e-" + text, "description": text}), 201)
    service_body = {
        "name": "s-" + text,
        "runtime": text,
        "registeredModelId": registered["id"],
        "servingEnvironmentId": env["id"],
        "customProperties": custom,
    }
    service = ok(client.post(f"{V1}/inference_services", json=service_body), 201)
    serve_body = {"name": "sv-" + text, "modelVersionId": created_version["id"]}
    serve = ok(client.post(f"{V1}/inference_services/{service['id']}/serves", json=serve_body), 201)

    assert created_version["name"] == "v-" + text and created_version["customProperties"] == custom
    assert ok(client.get(f"{V1}/model_versions/{created_version['id']}")) == created_version
    assert stored["name"] == "a-" + text and stored["uri"] == text
    assert ok(client.get(f"{V1}/artifacts/{stored['id']}")) == stored
    assert ok(client.get(f"{V1}/artifacts/{metric['id']}"))["name"] == "μ-" + text
    assert ok(client.get(f"{V1}/serving_environments/{env['id']}")) == env
    assert service["name"] == "s-" + text and service["runtime"] == text
    assert ok(client.get(f"{V1}/inference_services/{service['id']}")) == service
    assert serve["name"] == "sv-" + text
    find = {"name": "v-" + text, "parentResourceId": registered["id"]}
    assert ok(client.get(f"{V1}/model_version", params=find)) == created_version
    find = {"name": "a-" + text, "parentResourceId": created_version["id"]}
    assert ok(client.get(f"{V1}/artifact", params=find)) == stored
    nested = ok(
        client.get(f"{V1}/model_versions/{created_version['id']}/artifacts", params={"name": "a-" + text})
    )
    assert nested["items"] == [stored]


def test_differently_normalized_names_are_different_names(client: TestClient) -> None:
    composed = unicodedata.normalize("NFC", "café")
    decomposed = unicodedata.normalize("NFD", "café")
    assert composed != decomposed
    first = model(client, composed)
    second = model(client, decomposed)
    assert first["id"] != second["id"]
    assert ok(client.get(f"{V1}/registered_model", params={"name": composed}))["id"] == first["id"]
    assert ok(client.get(f"{V1}/registered_model", params={"name": decomposed}))["id"] == second["id"]


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


# --- unknown routes and methods ----------------------------------------------------------------------------


def test_unknown_route_is_404(registry: Registry) -> None:
    paths = [
        "/",
        "/nope",
        "/api",
        "/api/model_registry",
        "/api/model_registry/v1/",
        "/api/model_registry/v2/registered_models",
        "/API/model_registry/v1/registered_models",
        "/api/model_registry/v1/registeredModels",
        "/api/model_registry/v1/registered_models/1/nope",
        "/api/model_registry/v1/registered_models/1/versions/1",
        "/api/model_registry/v1/model_versions/1/artifacts/1",
        "/api/model_registry/v1/experiments",
        "/api/model_registry/v1/experiment_runs",
    ]
    for path in paths:
        for method in ("GET", "POST", "PATCH"):
            response = registry.client.request(method, path, json={} if method != "GET" else None)
            assert response.status_code == 404, (method, path, response.status_code, response.text[:200])
    assert registry.database_unchanged()


def test_wrong_method_is_405_and_changes_nothing(registry: Registry) -> None:
    requests = [
        ("DELETE", "/registered_models/{m}"),
        ("PUT", "/registered_models/{m}"),
        ("POST", "/registered_models/{m}"),
        ("DELETE", "/registered_models"),
        ("PATCH", "/registered_models"),
        ("PUT", "/registered_models"),
        ("POST", "/registered_model"),
        ("DELETE", "/model_versions/{v}"),
        ("PATCH", "/model_versions/{v}/artifacts"),
        ("DELETE", "/artifacts/{a}"),
        ("PUT", "/artifacts/{a}"),
        ("POST", "/model_artifacts/{a}"),
        ("DELETE", "/serving_environments/{se}"),
        ("DELETE", "/inference_services/{svc}"),
        ("POST", "/inference_services/{svc}/model"),
        ("POST", "/inference_services/{svc}/version"),
        ("PATCH", "/inference_services/{svc}/serves"),
        ("OPTIONS", "/registered_models"),
    ]
    for method, path in requests:
        for prefix in (V1, V1ALPHA3):
            url = prefix + path.format(**registry.world)
            response = registry.client.request(method, url, json={"name": "x"})
            assert response.status_code == 405, (method, url, response.status_code, response.text[:200])
    assert registry.database_unchanged()


# --- nothing half-written ----------------------------------------------------------------------------------


def test_failed_update_applies_none_of_its_fields(registry: Registry) -> None:
    world = registry.world
    for bad in (
        {"customProperties": {"p": {"metadataType": INT, "int_value": "x"}}},
        {"externalId": 5},
        {"unknown": "x"},
    ):
        for target in UPDATES:
            body = target.payload(world, description="changed", customProperties=props(new="value")) | bad
            registry.rejects(target.method, target.url(world), json=body)


def test_failed_create_stores_nothing_even_when_the_error_comes_last(registry: Registry) -> None:
    world = registry.world
    for target in CREATES:
        body = target.payload(world, description="valid", customProperties=props(a="x", b=1, c=0.5, d=True))
        body["externalId"] = "also-valid"
        body["customProperties"]["z-last"] = {"metadataType": BOOL, "bool_value": "yes"}
        registry.rejects(target.method, target.url(world), json=body)


def test_conflicting_creates_store_nothing(registry: Registry) -> None:
    world = registry.world
    m, v, se = world["m"], world["v"], world["se"]
    registry.rejects("POST", f"{V1}/registered_models", 409, json={"name": "world-model"})
    body = {"name": "world-version", "registeredModelId": m}
    registry.rejects("POST", f"{V1}/model_versions", 409, json=body)
    registry.rejects("POST", f"{V1}/registered_models/{m}/versions", 409, json={"name": "world-version"})
    body = {"artifactType": "model-artifact", "name": "world-artifact"}
    registry.rejects("POST", f"{V1}/model_versions/{v}/artifacts", 409, json=body)
    registry.rejects("POST", f"{V1}/serving_environments", 409, json={"name": "world-env"})
    body = {"name": "world-service", "registeredModelId": m, "servingEnvironmentId": se}
    registry.rejects("POST", f"{V1}/inference_services", 409, json=body)
    registry.rejects("POST", f"{V1}/serving_environments/{se}/inference_services", 409, json=body)
    # an external id taken by another entity of the same kind
    ok(registry.client.patch(f"{V1}/registered_models/{m}", json={"externalId": "taken"}))
    second = model(registry.client, "second")
    registry.rebase()
    registry.rejects("POST", f"{V1}/registered_models", 409, json={"name": "other", "externalId": "taken"})
    url = f"{V1}/registered_models/{second['id']}"
    registry.rejects("PATCH", url, 409, json={"externalId": "taken", "description": "changed"})


def test_upsert_that_conflicts_while_linking_leaves_the_artifact_unchanged(registry: Registry) -> None:
    client, world = registry.client, registry.world
    other = version(client, world["m"], "other-version")
    # the other version already holds an artifact named like the world's artifact
    artifact(client, other["id"], name="world-artifact", uri="s3://other")
    registry.rebase()
    body = {
        "artifactType": "model-artifact",
        "id": world["a"],
        "description": "changed",
        "uri": "s3://changed",
    }
    registry.rejects("POST", f"{V1}/model_versions/{other['id']}/artifacts", 409, json=body)


def test_children_of_missing_parents_are_not_stored(registry: Registry) -> None:
    world = registry.world
    m, v, se, svc, a = world["m"], world["v"], world["se"], world["svc"], world["a"]
    orphans: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/model_versions", {"name": "orphan", "registeredModelId": "999"}),
        ("POST", "/registered_models/999/versions", {"name": "orphan"}),
        ("POST", "/model_versions/999/artifacts", {"artifactType": "model-artifact", "name": "orphan"}),
        ("POST", "/model_versions/999/artifacts", {"artifactType": "model-artifact", "id": a}),
        ("POST", f"/model_versions/{v}/artifacts", {"artifactType": "model-artifact", "id": "999"}),
        ("POST", "/inference_services", {"registeredModelId": "999", "servingEnvironmentId": se}),
        ("POST", "/inference_services", {"registeredModelId": m, "servingEnvironmentId": "999"}),
        (
            "POST",
            "/inference_services",
            {"registeredModelId": m, "servingEnvironmentId": se, "modelVersionId": "999"},
        ),
        ("POST", "/serving_environments/999/inference_services", {"registeredModelId": m}),
        ("POST", f"/inference_services/{svc}/serves", {"modelVersionId": "999"}),
        ("POST", "/inference_services/999/serves", {"modelVersionId": v}),
        ("PATCH", f"/inference_services/{svc}", {"modelVersionId": "999", "description": "changed"}),
    ]
    for method, path, body in orphans:
        registry.rejects(method, V1 + path, 404, json=body)


def test_inference_service_with_a_version_of_another_model_is_not_stored(registry: Registry) -> None:
    client, world = registry.client, registry.world
    other_model = model(client, "other-model")
    foreign = version(client, other_model["id"], "foreign-version")
    registry.rebase()
    body = {
        "name": "mixed",
        "registeredModelId": world["m"],
        "servingEnvironmentId": world["se"],
        "modelVersionId": foreign["id"],
    }
    registry.rejects("POST", f"{V1}/inference_services", 400, json=body)
    registry.rejects("POST", f"{V1}/serving_environments/{world['se']}/inference_services", 400, json=body)
    url = f"{V1}/inference_services/{world['svc']}"
    registry.rejects("PATCH", url, 400, json={"modelVersionId": foreign["id"], "description": "changed"})


def test_required_fields_missing_or_empty_are_422(registry: Registry) -> None:
    world = registry.world
    m, se, svc = world["m"], world["se"], world["svc"]
    for url, body in [
        ("/registered_models", {}),
        ("/registered_models", {"name": ""}),
        ("/model_versions", {"registeredModelId": m}),
        ("/model_versions", {"name": "x"}),
        ("/model_versions", {"name": "", "registeredModelId": m}),
        (f"/registered_models/{m}/versions", {}),
        ("/serving_environments", {"name": ""}),
        ("/inference_services", {"registeredModelId": m}),
        ("/inference_services", {"servingEnvironmentId": se}),
        (f"/inference_services/{svc}/serves", {}),
    ]:
        registry.rejects("POST", V1 + url, 422, json=body)


def test_unexpected_error_is_a_json_500_and_stores_nothing(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(records, "create", explode)
    response = registry.client.post(f"{V1}/registered_models", json={"name": "doomed"})
    body = assert_error_body(response, 500)
    assert "simulated" not in body["message"]  # internals stay in the log
    assert registry.database_unchanged()
