"""Routing by path segments and prefixes, instead of trying each route's regular expression in turn.

Starlette's router tries every route's regular expression in order, so the 40th operation of a face pays
for the 39 before it (tens of microseconds on a request that otherwise takes about a hundred). A
SegmentRouter serves one API prefix: a path is split once, and only the templates with the same number
of segments and the same first segment are compared, most specific first (a literal segment wins over a
parameter). PrefixRouter, the app's top-level router, hands a request under such a prefix straight to
its SegmentRouter, without matching the Mount around it. A path
or method no route has gets a 404 or 405 in the format of the face the prefix belongs to; HEAD is
served wherever GET is, without the body.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Router
from starlette.types import Message, Receive, Scope, Send

from modelshelf.api.errors import Face
from modelshelf.errors import shown

Handler = Callable[[Request], Awaitable[Response]]
Template = tuple[str, ...]  # literal segments, or "{name}" for a parameter


def _is_parameter(segment: str) -> bool:
    return segment.startswith("{")


class SegmentRouter:
    def __init__(self, routes: Sequence[tuple[str, str, Handler, object]], face: Face) -> None:
        """`routes` are (method, path template below the mount point, handler, access decision); `face`
        answers the paths and methods that no route has.

        The router only keeps the decision so that `table()` can report it; the handler enforces it.
        """
        self.face = face
        self._table = [(method, path, decision) for method, path, _, decision in routes]
        by_template: dict[Template, dict[str, Handler]] = defaultdict(dict)
        for method, path, handler, _ in routes:
            by_template[tuple(path.strip("/").split("/"))][method] = handler
        self._index: dict[tuple[int, str], list[tuple[Template, dict[str, Handler]]]] = defaultdict(list)
        for template, handlers in by_template.items():
            if _is_parameter(template[0]):
                # The index is keyed by the first segment, so such a template could never match.
                raise ValueError(f"route template /{'/'.join(template)} must start with a literal segment")
            self._index[(len(template), template[0])].append((template, handlers))
        # Each template's handler dict lives as long as the router, so its id names the template.
        self._paths = {id(handlers): "/" + "/".join(template) for template, handlers in by_template.items()}
        for candidates in self._index.values():
            # Most specific first, so `match` can still take the first fit: at the first segment where two
            # templates differ, a literal beats a parameter (`/runs/metric_history` before `/runs/{id}`),
            # whatever the order of registration. The sort is stable, so equals keep that order.
            candidates.sort(key=lambda candidate: tuple(map(_is_parameter, candidate[0])))

    def table(self) -> list[tuple[str, str, object]]:
        """(method, path template, access decision) of every route."""
        return list(self._table)

    def match(self, path: str) -> tuple[dict[str, Handler], dict[str, str]] | None:
        """The handlers of the most specific template `path` (below the prefix) fits, and its parameters."""
        segments = path.strip("/").split("/")
        for template, handlers in self._index.get((len(segments), segments[0]), ()):
            params: dict[str, str] = {}
            for expected, actual in zip(template, segments, strict=True):
                if expected[0] == "{":
                    if not actual:
                        break
                    params[expected[1:-1]] = actual
                elif expected != actual:
                    break
            else:
                return handlers, params
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        # Mounted: the mount point is the end of root_path, and the path still starts with it.
        found = (
            self.match(scope["path"][len(scope.get("root_path", "")) :]) if scope["type"] == "http" else None
        )
        if found is None:
            scope["route_template"] = None  # for metrics: no operation, whatever the Mount around it says
            response = self.face.error(404, f"no operation at {shown(scope['path'])}")
        else:
            handlers, params = found
            scope["route_template"] = scope.get("root_path", "") + self._paths[id(handlers)]  # for metrics
            method = scope["method"]
            handler = handlers.get("GET" if method == "HEAD" else method)
            if handler is None:
                allowed = _allowed(handlers)
                response = self.face.error(405, f"{method} is not allowed here: use {allowed}")
                response.headers["Allow"] = allowed
            else:
                scope["path_params"] = params
                response = await handler(Request(scope, receive))
        if scope.get("method") == "HEAD":
            send = _without_body(send)
        await response(scope, receive, send)


def _allowed(handlers: dict[str, Handler]) -> str:
    methods = set(handlers)
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _without_body(send: Send) -> Send:
    """HEAD: the headers GET would send (Content-Length included), and no body."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return sender


class PrefixRouter(Router):
    """Starlette's router, except that a request below the mount point of a SegmentRouter goes straight to it.

    A Mount matches with a regular expression and builds a child scope for every request; under the API
    prefixes that was a tenth of a GET by id. The scope the SegmentRouter gets is the one the Mount would
    have given it (root_path extended by the prefix). Every other request, and every request that arrives
    with a root_path of its own, takes Starlette's way, as do the middleware around this router.
    """

    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(list(routes), **kwargs)
        # Only the mounts that lead the list: a route before a mount is tried first, and may take a path
        # below the mount's prefix.
        self._prefixes: list[tuple[str, Mount]] = []
        for route in routes:
            if not (isinstance(route, Mount) and isinstance(route.app, SegmentRouter)):
                break
            self._prefixes.append((route.path + "/", route))

    def face_for(self, path: str) -> Face | None:
        """The face whose prefix `path` is under, if any: it answers errors there."""
        for prefix, mount in self._prefixes:
            if path.startswith(prefix) or path == prefix[:-1]:
                return cast(SegmentRouter, mount.app).face
        return None

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            path = scope["path"]
            for prefix, mount in self._prefixes:
                # A newline is where a Mount's pattern (".*") stops matching: that path takes Starlette's way.
                if path.startswith(prefix) and "\n" not in path:
                    scope.setdefault("router", self)
                    scope.update(
                        path_params=dict(scope.get("path_params", {})),
                        app_root_path=scope.get("app_root_path", ""),
                        root_path=prefix[:-1],
                        endpoint=mount.app,
                        route=mount,
                    )
                    await mount.app(scope, receive, send)
                    return
        await super().app(scope, receive, send)
