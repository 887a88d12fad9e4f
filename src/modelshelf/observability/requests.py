"""The middleware every request passes first: its id, its access-log line, its metrics.

A pure ASGI middleware, not Starlette's BaseHTTPMiddleware (which runs the app in a task of its own and
costs more than a whole GET by id): it wraps `send` to see the status and size of the response, and
otherwise keeps out of the way.
"""

from __future__ import annotations

import logging
import re
import time
from random import getrandbits
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelshelf.observability.logs import FIELDS, REQUEST_ID
from modelshelf.observability.metrics import UNMATCHED, Metrics

access = logging.getLogger("modelshelf.access")

HEADER = b"x-request-id"
# Sent by a proxy or a client, an id is kept if it is 1 to 128 visible ASCII characters: it goes into
# every log line and back out in a header, so nothing else is taken from outside.
_SANE_ID = re.compile(rb"[\x21-\x7e]{1,128}")
# Query parameters whose value is replaced in the log: any name that suggests a credential or a
# signature (token, access_token, api_key, password, X-Amz-Signature, X-Amz-Credential, sig, ...).
_SECRET_NAME = re.compile(r"token|secret|passw|pwd|key|sig|credential|auth|session", re.IGNORECASE)
# ...except the Kubeflow API's page cursors, which are our own opaque positions in a list.
_NOT_SECRET = frozenset({"pagetoken", "nextpagetoken"})
REDACTED = "REDACTED"
DISCONNECTED = 499  # nginx's "client closed request": the client left before it was answered


def new_request_id() -> str:
    # Not a secret, only unique enough to find one request's lines: no system call per request.
    return f"{getrandbits(64):016x}"


def redact_query(query: bytes) -> str:
    """The query string as sent, with the value of every secret-looking parameter replaced."""
    text = query.decode("latin-1")
    if not _SECRET_NAME.search(unquote_plus(text)):
        return text
    parts = []
    for part in text.split("&"):
        name, equals, _value = part.partition("=")
        plain = unquote_plus(name)
        if equals and _SECRET_NAME.search(plain) and plain.lower() not in _NOT_SECRET:
            part = f"{name}={REDACTED}"
        parts.append(part)
    return "&".join(parts)


def _printable(text: str) -> str:
    """`text` with control characters escaped, so a path cannot forge a log line."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def route_template(scope: Scope) -> str:
    """The template of the route that served the request, as set by the router; UNMATCHED if none did.

    A SegmentRouter sets `route_template` (None: nothing there); Starlette sets `route` to its own routes.
    """
    if "route_template" in scope:
        return str(scope["route_template"] or UNMATCHED)
    route = scope.get("route")  # set by Starlette's router for its own routes and mounts
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    return f"{path}/{{path}}" if hasattr(route, "routes") else str(path)


class RequestObserver:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                if _SANE_ID.fullmatch(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = new_request_id()
        echoed = (HEADER, request_id.encode("ascii"))
        status = 0
        size = 0

        async def observed_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        context = REQUEST_ID.set(request_id)
        self.metrics.in_flight += 1
        try:
            await self.app(scope, receive, observed_send)
        except BaseException:
            status = status or 500  # what the error middleware outside sends (or would have sent)
            raise
        finally:
            self.metrics.in_flight -= 1
            if not status:
                # The app answered nothing: the client left mid-body (api.errors.handle_disconnect).
                status = DISCONNECTED
            seconds = time.perf_counter() - started
            self.metrics.observe(route_template(scope), scope["method"], status, seconds)
            if self.access_log or status == DISCONNECTED:
                self._log(scope, status, size, seconds, request_id)
            REQUEST_ID.reset(context)

    def _log(self, scope: Scope, status: int, size: int, seconds: float, request_id: str) -> None:
        if not access.isEnabledFor(logging.INFO):
            return
        path = _printable(scope["path"])
        query = _printable(redact_query(scope["query_string"])) if scope["query_string"] else ""
        client = scope.get("client")
        address = f"{client[0]}:{client[1]}" if client else "-"
        millis = round(seconds * 1000, 3)
        note = " (client disconnected)" if status == DISCONNECTED else ""
        access.info(
            '%s "%s %s%s%s" %d %dB %.3fms%s',
            address,
            scope["method"],
            path,
            "?" if query else "",
            query,
            status,
            size,
            millis,
            note,
            extra={
                FIELDS: {
                    "method": scope["method"],
                    "path": path,
                    "query": query,
                    "status": status,
                    "bytes": size,
                    "duration_ms": millis,
                    "client": address,
                }
            },
        )
