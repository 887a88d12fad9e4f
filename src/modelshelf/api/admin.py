"""The admin API under `/api/admin/v1`: users, teams, tokens and the audit trail. Every route needs `admin`.

Errors use the `{code, message}` body of the Kubeflow face, so one client-side error handler serves both.
Times are ISO 8601 in UTC. A token's secret appears once, in the response that creates it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from modelshelf.api.access import Gate, principal_of, protect, requires
from modelshelf.api.errors import Face, code_message
from modelshelf.api.http import JSON, read_json
from modelshelf.api.router import SegmentRouter
from modelshelf.auth.tokens import Scope
from modelshelf.domain.entities import INT32_MAX
from modelshelf.errors import InvalidArgument, shown
from modelshelf.services import accounts, audit
from modelshelf.services.accounts import Team
from modelshelf.services.clock import iso
from modelshelf.store.accounts import TokenRow, UserRow
from modelshelf.store.audit import AuditEventRow
from modelshelf.store.session import Database, Session

PREFIX = "/api/admin/v1"
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: str.isdigit() also takes '²', which int() refuses
ADMIN = requires(Scope.ADMIN)


def user_json(row: UserRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "admin": bool(row.is_admin),
        "disabled": bool(row.disabled),
        "createdAt": iso(row.create_time),
    }


def team_json(team: Team) -> dict[str, Any]:
    return {
        "name": team.row.name,
        "disabled": bool(team.row.disabled),
        "createdAt": iso(team.row.create_time),
        "members": [{"user": m.name, "role": m.role} for m in team.members],
    }


def token_json(row: TokenRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "user": row.user_name,
        "name": row.name,
        "prefix": row.display_prefix,
        "scopes": row.scopes.split(),
        "createdAt": iso(row.create_time),
        "expiresAt": iso(row.expire_time),
        "lastUsedAt": iso(row.last_used_time),
        "revokedAt": iso(row.revoke_time),
    }


def event_json(row: AuditEventRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "time": iso(row.time),
        "principal": row.principal,
        "via": row.via,
        "tokenId": None if row.token_id is None else str(row.token_id),
        "action": row.action,
        "entityType": row.entity_type,
        "entityId": row.entity_id,
        "detail": row.detail,
    }


def _audit_page_size(text: str) -> int:
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= audit.MAX_PAGE:
        raise InvalidArgument(f"the page size must be between 1 and {audit.MAX_PAGE}")
    return int(text)


def _audit_before(token: str) -> int | None:
    """The audit trail's page token is the id of the oldest event already seen, in decimal."""
    if not token:
        return None
    if not _DIGITS.fullmatch(token):
        raise InvalidArgument("invalid nextPageToken")
    before = int(token)
    return None if before > INT32_MAX else before  # older than an id past every id: everything


def _object(body: object, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidArgument(f"unknown field {shown(unknown[0])}: expected {', '.join(sorted(allowed))}")
    return body


def _bool(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidArgument(f"{key} must be true or false")
    return value


def _token_id(request: Request) -> int:
    text = request.path_params["token_id"]
    if not _DIGITS.fullmatch(text):
        raise InvalidArgument(f"invalid token id {shown(text)}")
    return int(text)  # one past int32 is simply not found (accounts.must_get_token)


class AdminAPI:
    def __init__(self, database: Database, max_body_bytes: int) -> None:
        self.database = database
        self.max_body_bytes = max_body_bytes

    async def body(self, request: Request, allowed: set[str], *, optional: bool = False) -> dict[str, Any]:
        """The JSON object sent; with `optional`, no body at all means `{}`."""
        if (
            optional
            and request.headers.get("content-length", "0") == "0"
            and "transfer-encoding" not in request.headers
        ):
            return {}
        return _object(await read_json(request, self.max_body_bytes), allowed)

    # --- users ---------------------------------------------------------------------------------------

    async def list_users(self, _request: Request) -> Response:
        def work(conn: Session) -> Response:
            return JSON({"items": [user_json(r) for r in accounts.list_users(conn)]})

        return await self.database.reading(work)

    async def create_user(self, request: Request) -> Response:
        body = await self.body(request, {"name", "admin"})
        admin = _bool(body, "admin") or False

        def work(conn: Session) -> Response:
            row = accounts.create_user(conn, body.get("name"), admin=admin, actor=principal_of(request))
            return JSON(user_json(row), 201)

        return await self.database.writing(work)

    async def get_user(self, request: Request) -> Response:
        def work(conn: Session) -> Response:
            return JSON(user_json(accounts.must_get_user(conn, request.path_params["name"])))

        return await self.database.reading(work)

    async def update_user(self, request: Request) -> Response:
        body = await self.body(request, {"disabled", "admin"})

        def work(conn: Session) -> Response:
            row = accounts.update_user(
                conn,
                request.path_params["name"],
                disabled=_bool(body, "disabled"),
                admin=_bool(body, "admin"),
                actor=principal_of(request),
            )
            return JSON(user_json(row))

        return await self.database.writing(work)

    # --- teams ---------------------------------------------------------------------------------------

    async def list_teams(self, _request: Request) -> Response:
        def work(conn: Session) -> Response:
            return JSON({"items": [team_json(t) for t in accounts.list_teams(conn)]})

        return await self.database.reading(work)

    async def create_team(self, request: Request) -> Response:
        body = await self.body(request, {"name"})

        def work(conn: Session) -> Response:
            return JSON(
                team_json(accounts.create_team(conn, body.get("name"), actor=principal_of(request))), 201
            )

        return await self.database.writing(work)

    async def get_team(self, request: Request) -> Response:
        def work(conn: Session) -> Response:
            return JSON(team_json(accounts.get_team(conn, request.path_params["name"])))

        return await self.database.reading(work)

    async def update_team(self, request: Request) -> Response:
        body = await self.body(request, {"disabled"})

        def work(conn: Session) -> Response:
            team = accounts.update_team(
                conn,
                request.path_params["name"],
                disabled=_bool(body, "disabled"),
                actor=principal_of(request),
            )
            return JSON(team_json(team))

        return await self.database.writing(work)

    async def set_member(self, request: Request) -> Response:
        body = await self.body(request, {"role"}, optional=True)
        p = request.path_params

        def work(conn: Session) -> Response:
            team = accounts.set_member(
                conn, p["name"], p["user"], body.get("role", "member"), actor=principal_of(request)
            )
            return JSON(team_json(team))

        return await self.database.writing(work)

    async def remove_member(self, request: Request) -> Response:
        p = request.path_params

        def work(conn: Session) -> Response:
            return JSON(
                team_json(accounts.remove_member(conn, p["name"], p["user"], actor=principal_of(request)))
            )

        return await self.database.writing(work)

    # --- tokens --------------------------------------------------------------------------------------

    async def list_tokens(self, request: Request) -> Response:
        def work(conn: Session) -> Response:
            rows = accounts.list_tokens(conn, request.query_params.get("user"))
            return JSON({"items": [token_json(r) for r in rows]})

        return await self.database.reading(work)

    async def create_token(self, request: Request) -> Response:
        body = await self.body(request, {"user", "name", "scopes", "expiresInDays"})
        user = body.get("user")
        if not isinstance(user, str):
            raise InvalidArgument("user is required: the name of the user who will hold the token")

        def work(conn: Session) -> Response:
            row, secret = accounts.create_token(
                conn,
                user,
                body.get("name"),
                body.get("scopes"),
                expires_in_days=body.get("expiresInDays"),
                actor=principal_of(request),
            )
            return JSON({**token_json(row), "token": secret}, 201)

        return await self.database.writing(work)

    async def get_token(self, request: Request) -> Response:
        def work(conn: Session) -> Response:
            return JSON(token_json(accounts.must_get_token(conn, _token_id(request))))

        return await self.database.reading(work)

    async def revoke_token(self, request: Request) -> Response:
        def work(conn: Session) -> Response:
            return JSON(
                token_json(accounts.revoke_token(conn, _token_id(request), actor=principal_of(request)))
            )

        return await self.database.writing(work)

    # --- audit ---------------------------------------------------------------------------------------

    async def list_audit(self, request: Request) -> Response:
        q = request.query_params
        entity_type, entity_id = audit.parse_entity(q["entity"]) if q.get("entity") else (None, None)
        query = audit.AuditQuery(
            principal=q.get("principal"),
            via=q.get("via"),
            entity_type=entity_type,
            entity_id=entity_id,
            page_size=_audit_page_size(q.get("pageSize", str(audit.DEFAULT_PAGE))),
            before=_audit_before(q.get("nextPageToken", "")),
        )

        def work(conn: Session) -> Response:
            page = audit.events(conn, query)
            token = "" if page.next_before is None else str(page.next_before)
            return JSON({"items": [event_json(r) for r in page.events], "nextPageToken": token})

        return await self.database.reading(work)

    def table(self) -> list[tuple[str, str, Callable[[Request], Any]]]:
        return [
            ("GET", "/users", self.list_users),
            ("POST", "/users", self.create_user),
            ("GET", "/users/{name}", self.get_user),
            ("PATCH", "/users/{name}", self.update_user),
            ("GET", "/teams", self.list_teams),
            ("POST", "/teams", self.create_team),
            ("GET", "/teams/{name}", self.get_team),
            ("PATCH", "/teams/{name}", self.update_team),
            ("PUT", "/teams/{name}/members/{user}", self.set_member),
            ("DELETE", "/teams/{name}/members/{user}", self.remove_member),
            ("GET", "/tokens", self.list_tokens),
            ("POST", "/tokens", self.create_token),
            ("GET", "/tokens/{token_id}", self.get_token),
            ("DELETE", "/tokens/{token_id}", self.revoke_token),
            ("GET", "/audit", self.list_audit),
        ]


ADMIN_FACE = Face("admin", code_message)


def mounts(database: Database, max_body_bytes: int, gate: Gate, timeout: float) -> list[Mount]:
    api = AdminAPI(database, max_body_bytes)
    routes = [
        (m, path, ADMIN_FACE.guard(protect(handler, ADMIN, gate), timeout=timeout), ADMIN)
        for m, path, handler in api.table()
    ]
    return [Mount(PREFIX, app=SegmentRouter(routes, ADMIN_FACE))]
