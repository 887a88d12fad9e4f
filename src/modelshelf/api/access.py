"""Who may call each route: every route carries an explicit decision, checked before its handler runs.

A face registers each handler with an `Access` (public, or a scope it requires) and wraps it with
`protect`, which authenticates the request and checks the scope before the handler runs. `route_table`
lists every route of an app with its decision, so a test can check all of them, and a route added without
one shows up there as undecided.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from modelshelf.api.router import SegmentRouter
from modelshelf.auth.principal import ANONYMOUS, Principal
from modelshelf.auth.tokens import Scope
from modelshelf.errors import Forbidden
from modelshelf.services import authn
from modelshelf.store.session import Database

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Access:
    """A route's decision: open to anyone, or needing a valid token that grants `scope`."""

    scope: Scope | None
    public: bool = False


PUBLIC = Access(scope=None, public=True)


def requires(scope: Scope) -> Access:
    return Access(scope=scope)


class Gate:
    """Authenticates requests for one app; with auth off, everyone is the anonymous principal."""

    def __init__(self, database: Database, *, enabled: bool) -> None:
        self.enabled = enabled
        self.authenticator = authn.Authenticator(database)

    async def admit(self, request: Request, access: Access) -> Principal:
        if not self.enabled:
            if access.scope is Scope.ADMIN:
                # Users and tokens made by an anonymous caller would outlive the experiment.
                raise Forbidden("the admin API is off under --no-auth: use the modelshelf CLI")
            return ANONYMOUS
        principal = await self.authenticator.authenticate(_authorization(request))
        if access.scope is not None and not principal.may(access.scope):
            raise Forbidden(f"this token lacks the '{access.scope}' scope")
        return principal


def _authorization(request: Request) -> str | None:
    """The Authorization header, read from the raw ASGI headers (cheaper than building `request.headers`)."""
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


def protect(handler: Handler, access: Access, gate: Gate) -> Handler:
    """`handler`, run only for a caller `access` lets in; the principal is left in the request scope."""
    if access.public:
        return handler

    async def endpoint(request: Request) -> Response:
        request.scope["principal"] = await gate.admit(request, access)
        return await handler(request)

    return endpoint


def principal_of(request: Request) -> Principal:
    principal = request.scope.get("principal")
    if not isinstance(principal, Principal):
        raise RuntimeError("handler reached without a principal: it was not wrapped by protect()")
    return principal


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


class LoopbackOnly:
    """With auth off, answer only requests addressed to a loopback name from no foreign web page.

    A server bound to 127.0.0.1 is still reachable from a browser: a page elsewhere can send it simple
    cross-origin writes (CSRF), or rebind its own DNS name to 127.0.0.1 and read the answers. The first
    carries a foreign Origin, the second a foreign Host; both are refused.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            host = headers.get(b"host", b"").decode("latin-1")
            origin = headers.get(b"origin")
            if _hostname(host) not in LOOPBACK_NAMES or (
                origin is not None
                and _hostname(origin.decode("latin-1").partition("://")[2]) not in LOOPBACK_NAMES
            ):
                response = Response(
                    b'{"code":"Forbidden","message":"with --no-auth, only local requests are served"}',
                    403,
                    media_type="application/json",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _hostname(host: str) -> str:
    """`host[:port]` without the port (IPv6 literals keep their brackets)."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class OpenRoute(Route):
    """A Starlette route that needs no credentials (health, docs): the decision is in the type."""

    access = PUBLIC


class OpenMount(Mount):
    access = PUBLIC


@dataclass(frozen=True)
class RouteDecision:
    method: str
    path: str
    access: Access | None  # None: nobody decided, which the authorization test refuses


def route_table(app: Starlette) -> Iterator[RouteDecision]:
    """Every method and path the app serves, with its access decision."""
    yield from _walk(app.routes, "")


def _walk(routes: list[BaseRoute], prefix: str) -> Iterator[RouteDecision]:
    for route in routes:
        access: Any = getattr(route, "access", None)
        if isinstance(route, Mount) and isinstance(route.app, SegmentRouter):
            for method, path, decided in route.app.table():
                decision = decided if isinstance(decided, Access) else None
                yield RouteDecision(method, prefix + route.path + path, decision)
        elif isinstance(route, Mount):
            yield RouteDecision("GET", prefix + route.path + "/{path}", access)
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield RouteDecision(method, prefix + route.path, access)
        else:
            yield RouteDecision("*", prefix + str(getattr(route, "path", route)), None)
