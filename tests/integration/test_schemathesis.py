"""Property-based API tests: schemathesis drives every operation of the app's own /openapi.json.

Each generated request, valid or deliberately invalid, must get a status code the schema documents,
never a 5xx, and a body that matches the response schema. The database is seeded first, so id-based
operations sometimes hit existing rows; admin operations also get cases whose names and ids are the
seeded ones.

The admin operations run as their own admin user (the operator), not as the bootstrap admin, so a
generated request may disable or demote `admin` or revoke its token and the next case still gets in. The
operator cannot lock itself out (the server refuses that), and a generated DELETE that hits the
operator's own token is undone after the case, so no case is answered 401 for the previous case's sake.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import UnsupportedSchema
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import Engine, update
from starlette.applications import Starlette
from starlette.testclient import TestClient

from modelshelf.api.admin import PREFIX as ADMIN
from modelshelf.api.openapi import document
from modelshelf.app import create_app
from modelshelf.settings import Settings
from modelshelf.store.tables import api_token
from tests.integration.kf import V1, V1ALPHA3, artifact, model, ok, version

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Examples per operation and test (plus generation mode); raise it locally for a deeper search.
MAX_EXAMPLES = int(os.environ.get("MODELSHELF_SCHEMATHESIS_EXAMPLES", "8"))

# Collected from the document the app serves, so every operation becomes its own test.
OPERATIONS = [
    (method.upper(), path)
    for path, item in document()["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete")
]
ADMIN_OPERATIONS = [(method, path) for method, path in OPERATIONS if path.startswith(ADMIN + "/")]
KUBEFLOW_OPERATIONS = [op for op in OPERATIONS if op[1].startswith("/api/model_registry/")]
STUDIO_OPERATIONS = [op for op in OPERATIONS if op not in ADMIN_OPERATIONS and op not in KUBEFLOW_OPERATIONS]

OPERATOR = "schemathesis"  # the admin user the admin operations run as
# Values the admin seed made, by the name of the parameter or top-level body field that takes them.
SEEDED: dict[str, tuple[str, ...]] = {
    "name": ("admin", "alice", "bob", "carol", "ml", "old"),  # users and teams share one namespace
    "user": ("admin", "alice", "bob", "carol"),
    "token_id": ("1", "2", "3"),
    "principal": ("admin", OPERATOR),
    "via": ("api", "cli"),
    "entity": ("user", "team:ml", "token:2"),
}


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
    experiment = ok(client.post(f"{V1ALPHA3}/experiments", json={"name": "seed-experiment"}), 201)
    run = {"name": "seed-run", "experimentId": experiment["id"]}
    run_id = ok(client.post(f"{V1ALPHA3}/experiment_runs", json=run), 201)["id"]
    logged = {"artifactType": "metric", "name": "seed-metric", "value": 0.5, "step": 1}
    ok(client.post(f"{V1ALPHA3}/experiment_runs/{run_id}/artifacts", json=logged), 201)


@pytest.fixture
def admin_app(settings: Settings, engine: Engine, admin_token: str) -> Starlette:
    app = create_app(settings, engine)
    with TestClient(app, headers=_auth(admin_token)) as client:
        operator = _seed_admin(client)
    app.state.test_headers = _auth(operator["token"])
    app.state.operator_token_id = int(operator["id"])
    return app


def _seed_admin(client: TestClient) -> dict[str, Any]:
    """Users and teams in every state, tokens with every optional field set, their audit events; and the
    operator with its token, made last so that no seeded id is the operator's."""
    for name, admin in (("alice", False), ("bob", True), ("carol", False)):
        ok(client.post(f"{ADMIN}/users", json={"name": name, "admin": admin}), 201)
    for team in ("ml", "old"):
        ok(client.post(f"{ADMIN}/teams", json={"name": team}), 201)
    ok(client.put(f"{ADMIN}/teams/ml/members/alice", json={"role": "owner"}))
    ok(client.put(f"{ADMIN}/teams/ml/members/bob"))
    ok(client.patch(f"{ADMIN}/teams/old", json={"disabled": True}))
    expiring = {"user": "alice", "name": "ci", "scopes": ["models:read"], "expiresInDays": 30}
    used = ok(client.post(f"{ADMIN}/tokens", json=expiring), 201)  # id 2
    ok(client.get(f"{V1}/registered_models", headers=_auth(used["token"])))  # sets lastUsedAt
    revoked = {"user": "bob", "name": "old", "scopes": ["admin", "models:write"]}
    ok(client.delete(f"{ADMIN}/tokens/{ok(client.post(f'{ADMIN}/tokens', json=revoked), 201)['id']}"))
    ok(client.patch(f"{ADMIN}/users/carol", json={"disabled": True}))
    ok(client.post(f"{ADMIN}/users", json={"name": OPERATOR, "admin": True}), 201)
    operator = {"user": OPERATOR, "name": "schemathesis", "scopes": ["admin"]}
    return ok(client.post(f"{ADMIN}/tokens", json=operator), 201)  # type: ignore[no-any-return]


_LOADED: dict[str, schemathesis.BaseSchema] = {}


def served_operation(app: Starlette, method: str, path: str) -> schemathesis.APIOperation:
    """An operation of the app's /openapi.json, loaded once (parsing it is the slow part), sending its
    requests to this test's app.

    Every app serves the same document; only the database behind it differs from test to test. An
    operation keeps the app it was first made with, so it is pointed at this one as well: otherwise every
    later test of the operation (each PostgreSQL one) would reach the first test's database, where its
    token is unknown, and pass on nothing but 401s.
    """
    schema = _LOADED.get("schema")
    if schema is None:
        schema = _LOADED["schema"] = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.app = app
    operation = schema[path][method]
    operation.app = app
    return operation


@st.composite
def _negative_cases(draw: st.DrawFn, operation: schemathesis.APIOperation) -> schemathesis.Case:
    # Now and then schemathesis cannot negate a schema ("a `not` whose complement is not spelled out");
    # that is a limit of the generator, not of the API, so such a draw is simply skipped.
    try:
        return draw(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    except UnsupportedSchema:
        reject()


@st.composite
def _seeded_cases(draw: st.DrawFn, operation: schemathesis.APIOperation) -> schemathesis.Case:
    """Valid cases whose names, ids and filters are seeded ones, so that they find rows (and conflicts)."""
    case = draw(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    for container in (case.path_parameters, case.query, case.body):
        if isinstance(container, dict):
            for key in sorted(container.keys() & SEEDED.keys()):
                container[key] = draw(st.sampled_from(SEEDED[key]))
    return case


def _keep_the_operator(app: Starlette, client: TestClient, case: schemathesis.Case) -> None:
    """Fail if the operator lost its admin right; undo a generated revocation of its own token."""
    response = client.get(f"{ADMIN}/users/{OPERATOR}")
    if response.status_code == 401 and (case.method, case.operation.path) == (
        "DELETE",
        f"{ADMIN}/tokens/{{token_id}}",
    ):
        with app.state.engine.begin() as conn:
            conn.execute(
                update(api_token)
                .where(api_token.c.id == app.state.operator_token_id)
                .values(revoke_time=None)
            )
        response = client.get(f"{ADMIN}/users/{OPERATOR}")
    operator = ok(response)
    assert operator["admin"] and not operator["disabled"], (case, operator)


def test_every_operation_of_the_served_document_is_covered(app: Starlette) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    served = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert served == set(OPERATIONS)
    assert len(KUBEFLOW_OPERATIONS) == 96  # 40 under each prefix, and the 16 experiment ones of v1alpha3
    assert len(ADMIN_OPERATIONS) == 15
    assert len(STUDIO_OPERATIONS) == 7


def _run(
    cases: st.SearchStrategy[schemathesis.Case],
    app: Starlette,
    after: Callable[[schemathesis.Case], None] | None = None,
) -> None:
    token = app.state.test_headers["Authorization"]

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
        derandomize=True,  # the same requests on every run: a failure here is never a fluke
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=CHECKS, headers=app.state.test_headers)
        # Documented, but it would mean the case never reached the handler, and nor would any after it.
        if response.request.headers.get("Authorization") == token:
            assert response.status_code != 401, ("the test's own token was refused", case, response.text)
        if after is not None:
            after(case)

    check()


@pytest.mark.parametrize(
    ("method", "path"),
    KUBEFLOW_OPERATIONS + STUDIO_OPERATIONS,
    ids=[f"{m} {p}" for m, p in KUBEFLOW_OPERATIONS + STUDIO_OPERATIONS],
)
def test_operation_conforms_to_the_schema(app: Starlette, method: str, path: str) -> None:
    operation = served_operation(app, method, path)
    _run(
        st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE), _negative_cases(operation)),
        app,
    )


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS, ids=[f"{m} {p}" for m, p in ADMIN_OPERATIONS])
def test_admin_operation_conforms_to_the_schema(admin_app: Starlette, method: str, path: str) -> None:
    operation = served_operation(admin_app, method, path)
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        _negative_cases(operation),
        _seeded_cases(operation),
    )
    with TestClient(admin_app, headers=admin_app.state.test_headers) as client:
        _run(cases, admin_app, after=lambda case: _keep_the_operator(admin_app, client, case))
