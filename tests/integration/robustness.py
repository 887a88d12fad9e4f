"""Shared parts of the Kubeflow robustness tests (`test_robustness_*.py`).

Every rejected request must answer with the documented status and a JSON `{code, message}` body, never a
5xx, and must leave the registry exactly as it was: after each rejection every table is compared with its
state before, and at the end of the test every list the API offers is compared too. Unicode and long
values, in contrast, must be accepted and come back byte for byte.

Most tests send one kind of mistake to every write operation (`TARGETS`), so a new operation or field
added there is covered by all of them at once. The `world` and `registry` fixtures live in
`tests/integration/conftest.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from modelshelf.store.tables import metadata
from tests.integration.kf import V1, ok

World = dict[str, str]

# --- checking that nothing changed ---------------------------------------------------------------------


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

# --- metadata types of customProperties values ---------------------------------------------------------

STRING = "MetadataStringValue"
INT = "MetadataIntValue"
DOUBLE = "MetadataDoubleValue"
BOOL = "MetadataBoolValue"
