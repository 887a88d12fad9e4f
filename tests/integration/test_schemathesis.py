"""Property-based API tests: schemathesis drives every operation of the app's own /openapi.json.

Each generated request, valid or deliberately invalid, must get a status code the schema documents,
never a 5xx, and a body that matches the response schema. The database is seeded first, so id-based
operations sometimes hit existing rows.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import UnsupportedSchema
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from modelshelf.api.kubeflow.openapi import document
from modelshelf.app import create_app
from modelshelf.settings import Settings
from tests.integration.kf import V1, artifact, model, ok, version

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Examples per operation and test (plus generation mode); raise it locally for a deeper search.
MAX_EXAMPLES = int(os.environ.get("MODELSHELF_SCHEMATHESIS_EXAMPLES", "8"))

# Collected from the document the app serves, so every operation becomes its own test.
OPERATIONS = [
    (method.upper(), path)
    for path, item in document()["paths"].items()
    for method in item
    if method in ("get", "post", "patch")
]


@pytest.fixture
def app(settings: Settings, engine: Engine, admin_token: str) -> Starlette:
    app = create_app(settings, engine)
    with TestClient(app, headers=_auth(admin_token)) as client:
        _seed(client)
    app.state.test_headers = _auth(admin_token)
    return app


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _seed(client: TestClient) -> None:
    """One of everything, each with id 1, so generated ids sometimes exist."""
    registered = model(client, "seed-model", description="seeded", owner="me")
    seeded_version = version(client, registered["id"], "seed-version", author="me")
    artifact(client, seeded_version["id"], name="seed-artifact", uri="s3://bucket/model")
    environment = ok(client.post(f"{V1}/serving_environments", json={"name": "seed-env"}), 201)
    service = ok(
        client.post(
            f"{V1}/inference_services",
            json={
                "name": "seed-service",
                "registeredModelId": registered["id"],
                "servingEnvironmentId": environment["id"],
                "modelVersionId": seeded_version["id"],
            },
        ),
        201,
    )
    serve = {"modelVersionId": seeded_version["id"]}
    ok(client.post(f"{V1}/inference_services/{service['id']}/serves", json=serve), 201)


_LOADED: dict[str, schemathesis.BaseSchema] = {}


def served_schema(app: Starlette) -> schemathesis.BaseSchema:
    """The app's /openapi.json, loaded once (parsing it is the slow part) and pointed at this test's app.

    Every app serves the same document; only the database behind it differs from test to test.
    """
    schema = _LOADED.get("schema")
    if schema is None:
        schema = _LOADED["schema"] = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.app = app
    return schema


@st.composite
def _negative_cases(draw: st.DrawFn, operation: schemathesis.APIOperation) -> schemathesis.Case:
    # Now and then schemathesis cannot negate a schema ("a `not` whose complement is not spelled out");
    # that is a limit of the generator, not of the API, so such a draw is simply skipped.
    try:
        return draw(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    except UnsupportedSchema:
        reject()


def test_every_operation_of_the_served_document_is_covered(app: Starlette) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    served = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert served == set(OPERATIONS)
    assert len(served) == 80  # 40 operations under each of the two prefixes


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_to_the_schema(app: Starlette, method: str, path: str) -> None:
    operation = served_schema(app)[path][method]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE), _negative_cases(operation)
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
        derandomize=True,  # the same requests on every run: a failure here is never a fluke
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS, headers=app.state.test_headers)

    check()
