"""The authorization matrix, generated from the app's own route table.

For every route the app serves: no token, a malformed header, and an unknown, expired, revoked or disabled
user's token each get 401; a token whose scopes do not grant the route's get 403; a token with exactly the
needed scope gets past both. Each refusal comes in its face's error format. A route registered without an
access decision fails `test_every_route_has_an_access_decision`, and a face this file does not know the
error format of fails `test_every_face_has_a_known_error_format`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, update
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from modelshelf.api.access import PUBLIC, Access, RouteDecision, route_table
from modelshelf.app import create_app
from modelshelf.auth.principal import CLI, expand
from modelshelf.auth.tokens import Scope
from modelshelf.services import accounts, audit
from modelshelf.settings import Settings
from modelshelf.store.session import Database
from modelshelf.store.tables import api_token


def _routes() -> list[RouteDecision]:
    app = create_app(Settings(database_url="sqlite://"))
    try:
        return list(route_table(app))
    finally:
        app.state.database.dispose()


ROUTES = _routes()


def _kubeflow_error(body: Any, status: int) -> bool:
    phrase = {401: "Unauthorized", 403: "Forbidden"}[status]
    return isinstance(body, dict) and body.get("code") == phrase and isinstance(body.get("message"), str)


def _message(body: dict[str, str]) -> str:
    """The text of an error, in whichever face's format."""
    return body["message"] if "message" in body else body["detail"]


def _detail_error(body: Any, _status: int) -> bool:
    return isinstance(body, dict) and list(body) == ["detail"] and isinstance(body["detail"], str)


# Each face and the error body it answers in. A new face must say here how its refusals look.
FACES: dict[str, Callable[[Any, int], bool]] = {
    "/api/model_registry/v1/": _kubeflow_error,
    "/api/model_registry/v1alpha3/": _kubeflow_error,
    "/api/admin/v1/": _kubeflow_error,
    "/metrics": _detail_error,  # outside the API faces: {"detail": ...}
    "/api/": _detail_error,  # the DVC Studio face (after the faces under /api/ that it must not take)
}


def _prefix(path: str) -> str | None:
    return next((prefix for prefix in FACES if path.startswith(prefix)), None)


def _face(path: str) -> Callable[[Any, int], bool] | None:
    prefix = _prefix(path)
    return None if prefix is None else FACES[prefix]


def _concrete(path: str) -> str:
    """A request path for a template: ids that do not exist, names nobody has."""
    return re.sub(r"\{([^}]+)\}", lambda m: "999" if "id" in m[1] else "nobody", path)


def _id(route: RouteDecision) -> str:
    return f"{route.method} {route.path}"


PROTECTED = [r for r in ROUTES if r.access is not None and not r.access.public]
OPEN = [r for r in ROUTES if r.access is not None and r.access.public]


def test_every_route_has_an_access_decision() -> None:
    undecided = [_id(r) for r in ROUTES if r.access is None]
    assert undecided == []


def test_the_route_table_is_complete() -> None:
    """The walk sees every face: the 40 Kubeflow operations of v1, those and the 16 experiment operations of
    v1alpha3, the admin API, metrics, the open routes."""
    by_prefix = {prefix: sum(_prefix(r.path) == prefix for r in ROUTES) for prefix in FACES}
    assert by_prefix == {
        "/api/model_registry/v1/": 40,
        "/api/model_registry/v1alpha3/": 56,
        "/api/admin/v1/": 15,
        "/metrics": 1,
        "/api/": 7,
    }
    assert sorted(r.path for r in OPEN) == [
        "/api/webhooks/git/{project_id}",  # checked by the project's secret instead
        "/docs",
        "/docs/init.js",
        "/docs/static/{path}",
        "/healthz",
        "/openapi.json",
        "/readyz",
    ]


def test_an_undecided_route_is_reported() -> None:
    """The check above can fail: a plain Starlette route carries no decision."""

    async def endpoint(_request: Any) -> Any:
        raise AssertionError("not called")

    app = Starlette(routes=[Route("/new", endpoint, methods=["GET"])])
    assert list(route_table(app)) == [RouteDecision("GET", "/new", None)]


def test_every_face_has_a_known_error_format() -> None:
    unknown = [_id(r) for r in PROTECTED if _face(r.path) is None]
    assert unknown == []


def test_kubeflow_reads_need_read_and_writes_need_write() -> None:
    for route in ROUTES:
        if route.path.startswith("/api/model_registry/"):
            wanted = Scope.MODELS_READ if route.method == "GET" else Scope.MODELS_WRITE
            assert route.access == Access(wanted), _id(route)
        elif route.path.startswith("/api/admin/"):
            assert route.access == Access(Scope.ADMIN), _id(route)
        elif route.path == "/metrics":
            assert route.access == Access(Scope.METRICS_READ), _id(route)
        elif route.path.startswith("/api/webhooks/"):
            assert route.access == PUBLIC, _id(route)
        elif route.path.startswith("/api/"):
            # Studio: reading models and projects needs models:read; creating and changing projects
            # needs projects:create (Studio's "PROJECT" scope).
            changes = route.method != "GET"
            wanted = Scope.PROJECTS_CREATE if changes else Scope.MODELS_READ
            assert route.access == Access(wanted), _id(route)
        else:
            assert route.access == PUBLIC, _id(route)


def _lacking(scope: Scope) -> list[str]:
    """Every scope that does not grant `scope`, even by implication."""
    return sorted(s.value for s in Scope if scope not in expand(frozenset({s})))


@dataclass
class Credentials:
    unknown: str
    expired: str
    revoked: str
    disabled_user: str
    lacking: dict[Scope, str]
    exact: dict[Scope, str]


@pytest.fixture
def credentials(engine: Engine) -> Credentials:
    database = Database(engine)
    with database.write() as conn:
        accounts.create_user(conn, "member", admin=False, actor=CLI)
        accounts.create_user(conn, "boss", admin=True, actor=CLI)
        accounts.create_user(conn, "gone", admin=False, actor=CLI)

        def token(user: str, name: str, scopes: list[str]) -> tuple[int, str]:
            row, secret = accounts.create_token(conn, user, name, scopes, actor=CLI)
            return row.id, secret

        every = [s.value for s in Scope if s is not Scope.ADMIN]
        expired_id, expired = token("member", "expired", every)
        revoked_id, revoked = token("member", "revoked", every)
        _, disabled_user = token("gone", "all", every)
        lacking = {s: token("member", f"lacking {s}", _lacking(s))[1] for s in Scope}
        exact = {
            s: token("boss" if s is Scope.ADMIN else "member", f"exact {s}", [s.value])[1] for s in Scope
        }
        accounts.revoke_token(conn, revoked_id, actor=CLI)
        accounts.update_user(conn, "gone", disabled=True, admin=None, actor=CLI)
        conn.sql.execute(update(api_token).where(api_token.c.id == expired_id).values(expire_time=1))
    return Credentials("msh_" + "A" * 43, expired, revoked, disabled_user, lacking, exact)


def _call(client: TestClient, route: RouteDecision, authorization: str | None) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {} if route.method in ("POST", "PATCH", "PUT") else None
    return client.request(route.method, _concrete(route.path), json=body, headers=headers)


@pytest.mark.parametrize("route", PROTECTED, ids=_id)
def test_protected_route(anonymous: TestClient, credentials: Credentials, route: RouteDecision) -> None:
    assert route.access is not None and route.access.scope is not None
    scope = route.access.scope
    is_face_error = _face(route.path)
    assert is_face_error is not None
    refusals = {
        "no header": None,
        "empty header": "",
        "unknown scheme": f"Basic {credentials.exact[scope]}",
        "scheme only": "Bearer",
        "two values": f"Bearer {credentials.exact[scope]} extra",
        "unknown token": f"Bearer {credentials.unknown}",
        "expired token": f"Bearer {credentials.expired}",
        "revoked token": f"token {credentials.revoked}",
        "disabled user": f"Bearer {credentials.disabled_user}",
    }
    for case, authorization in refusals.items():
        response = _call(anonymous, route, authorization)
        assert response.status_code == 401, (case, response.text)
        assert is_face_error(response.json(), 401), (case, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
    invalid = {_message(_call(anonymous, route, refusals[c]).json()) for c in list(refusals)[5:]}
    assert len(invalid) == 1, f"every bad token must get the same message: {invalid}"

    response = _call(anonymous, route, f"Bearer {credentials.lacking[scope]}")
    assert response.status_code == 403, response.text
    assert is_face_error(response.json(), 403), response.text
    assert scope.value in _message(response.json())

    for scheme in ("Bearer", "token", "bearer"):
        response = _call(anonymous, route, f"{scheme} {credentials.exact[scope]}")
        assert response.status_code not in (401, 403), (scheme, response.text)


@pytest.mark.parametrize("route", [r for r in OPEN if "/webhooks/" not in r.path], ids=_id)
def test_open_route_needs_no_token(anonymous: TestClient, route: RouteDecision) -> None:
    path = "/docs/static/swagger-ui.css" if route.path.endswith("{path}") else route.path
    response = anonymous.request(route.method, path)
    assert response.status_code == 200, response.text
    # and a bad token does not make it fail either: open routes do not look at credentials
    assert anonymous.request(route.method, path, headers={"Authorization": "Bearer nope"}).status_code == 200


def test_a_demoted_admin_keeps_the_token_but_not_the_scope(anonymous: TestClient, engine: Engine) -> None:
    database = Database(engine)
    with database.write() as conn:
        accounts.create_user(conn, "boss", admin=True, actor=CLI)
        _, secret = accounts.create_token(conn, "boss", "all", ["admin"], actor=CLI)
    auth = {"Authorization": f"Bearer {secret}"}
    assert anonymous.get("/api/admin/v1/users", headers=auth).status_code == 200
    with database.write() as conn:
        accounts.update_user(conn, "boss", disabled=None, admin=False, actor=CLI)
    refused = anonymous.get("/api/admin/v1/users", headers=auth)
    assert refused.status_code == 403
    assert refused.json() == {"code": "Forbidden", "message": "this token lacks the 'admin' scope"}
    # admin granted everything; without it, this token grants nothing
    assert anonymous.get("/api/model_registry/v1/registered_models", headers=auth).status_code == 403


def test_a_refused_write_changes_nothing(
    anonymous: TestClient, client: TestClient, credentials: Credentials
) -> None:
    body = {"name": "never"}
    read_only = {"Authorization": f"Bearer {credentials.exact[Scope.MODELS_READ]}"}
    response = anonymous.post("/api/model_registry/v1/registered_models", json=body, headers=read_only)
    assert response.status_code == 403
    assert client.get("/api/model_registry/v1/registered_models").json()["items"] == []
    events = client.get("/api/admin/v1/audit", params={"entity": "registered_model"}).json()["items"]
    assert events == []


@pytest.fixture
def no_auth(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings.with_changes(auth=False), engine)
    with TestClient(app, base_url="http://127.0.0.1:8080", raise_server_exceptions=False) as test_client:
        yield test_client


def test_no_auth_serves_local_requests_without_a_token(no_auth: TestClient, engine: Engine) -> None:
    created = no_auth.post("/api/model_registry/v1/registered_models", json={"name": "local"})
    assert created.status_code == 201, created.text
    assert no_auth.get("/api/model_registry/v1/registered_models").json()["items"] == [created.json()]
    with Database(engine).read() as conn:
        [event] = audit.events(conn, audit.AuditQuery(entity_type="registered_model")).events
    assert (event.principal, event.via, event.action) == (None, "no-auth", "create")


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},  # DNS rebinding: a foreign name that resolves to 127.0.0.1
        {"Host": "evil.example:8080"},
        {"Origin": "http://evil.example"},  # CSRF: a foreign page posting to localhost
        {"Origin": "null"},
    ],
)
def test_no_auth_refuses_foreign_hosts_and_origins(no_auth: TestClient, headers: dict[str, str]) -> None:
    refused = no_auth.post("/api/model_registry/v1/registered_models", json={"name": "x"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json() == {
        "code": "Forbidden",
        "message": "with --no-auth, only local requests are served",
    }
    assert no_auth.get("/api/model_registry/v1/registered_models").json()["items"] == []


@pytest.mark.parametrize("origin", ["http://localhost:8080", "http://127.0.0.1:3000", "http://[::1]:8080"])
def test_no_auth_accepts_local_origins(no_auth: TestClient, origin: str) -> None:
    response = no_auth.get("/api/model_registry/v1/registered_models", headers={"Origin": origin})
    assert response.status_code == 200, response.text


def test_no_auth_turns_the_admin_api_off(no_auth: TestClient) -> None:
    refused = no_auth.post("/api/admin/v1/users", json={"name": "mallory", "admin": True})
    assert refused.status_code == 403
    assert "off under --no-auth" in refused.json()["message"]
    assert no_auth.get("/api/admin/v1/users").status_code == 403
