"""How a face answers errors: one `Face` per wire format, choosing status and body for every failure.

Domain errors (modelshelf.errors) carry no HTTP. Each face owns one mapping from them to a status and
one way to write the body: the Kubeflow face `{code, message}` (api.kubeflow.errors), the admin face its
own (api.admin), and everything outside the API faces `{"detail": ...}` (`PLAIN`), which the DVC Studio
face will share. The router answers 404 and 405 with the face of the prefix a path is under, and
`Face.guard` wraps every handler: it gives the request its deadline and turns whatever the handler
raises into that face's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response

from modelshelf import blocking, errors
from modelshelf.observability.metrics import count_database_error

log = logging.getLogger("modelshelf.api")

Handler = Callable[[Request], Awaitable[Response]]
Body = Callable[[int, str], bytes]  # (status, message) -> the body of an error response

# The statuses every face shares; a face may put its own in front (the first match wins).
STATUSES: list[tuple[type[Exception], int]] = [
    (errors.PayloadTooLarge, 413),
    (errors.InvalidArgument, 400),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.Unavailable, 503),
]


class Face:
    def __init__(self, name: str, body: Body, statuses: Sequence[tuple[type[Exception], int]] = STATUSES):
        self.name = name
        self._body = body
        self._statuses = list(statuses)

    def status_of(self, exc: Exception) -> int:
        for kind, status in self._statuses:
            if isinstance(exc, kind):
                return status
        return 500

    def error(self, status: int, message: str) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="modelshelf"'} if status == 401 else None
        return Response(self._body(status, message), status, headers=headers, media_type="application/json")

    def guard(self, handler: Handler, *, timeout: float) -> Handler:
        """`handler`, given `timeout` seconds in all (database waits included), with every failure
        answered in this face's format: a domain error by its status (store.session turns a deadline or
        an unreachable database into one, 503), anything unexpected by a logged 500."""

        async def endpoint(request: Request) -> Response:
            query = request.scope["query_string"]
            if b"%00" in query or b"\x00" in query:
                # Refused wherever it is, as upstream does: no parameter means a NUL, and none can store one.
                return self.error(400, "the query string contains a NUL character")
            try:
                # Every wait below is bounded by this deadline where it happens (the worker pool, SQLite's
                # busy timeout and progress handler, PostgreSQL's statement timeout, the server's body
                # timeout), so no timer around the whole handler is needed.
                with blocking.deadline_after(timeout):
                    return await handler(request)
            except errors.RegistryError as exc:
                if isinstance(exc, errors.Unavailable):
                    log.warning("%s %s: %s", request.method, request.url.path, _cause(exc))
                    if exc.__cause__ is not None:
                        count_database_error(request.scope, exc.__cause__)
                response = self.error(self.status_of(exc), str(exc))
                retry_after = getattr(exc, "retry_after", None)  # an Unavailable that knows when to retry
                if retry_after is not None:
                    response.headers["Retry-After"] = str(retry_after)
                return response
            except ClientDisconnect:
                raise  # nobody to answer: the app's handle_disconnect notes it
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                return self.error(500, "internal server error")

        return endpoint


def _cause(exc: BaseException) -> str:
    """What went wrong below a domain error, in one line: the database driver's error class and message
    (its first line: PostgreSQL's detail lines may quote values)."""
    cause = exc.__cause__ or exc
    orig = getattr(cause, "orig", None) or cause
    text = str(orig).strip().splitlines()
    return f"{orig.__class__.__name__}: {text[0][:200]}" if text else orig.__class__.__name__


def detail(_status: int, message: str) -> bytes:
    return orjson.dumps({"detail": message})


def code_message(status: int, message: str) -> bytes:
    """`{code, message}`, `code` being the reason phrase: the Kubeflow server's error body, which the admin
    API shares so that one client-side error handler serves both."""
    return orjson.dumps({"code": HTTPStatus(status).phrase, "message": message})


PLAIN = Face("plain", detail)


def face_of(app: object, path: str) -> Face:
    """The face that answers errors for `path`: the one whose prefix it is under, else PLAIN."""
    face_for = getattr(getattr(app, "router", None), "face_for", None)
    return (face_for(path) if face_for else None) or PLAIN


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """The app's last resort, outside every face's guard (a middleware failed): a logged 500."""
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return PLAIN.error(500, "internal server error")


async def handle_http(request: Request, exc: Exception) -> Response:
    """404 and 405 for paths outside every API face (Starlette's router raises them)."""
    assert isinstance(exc, HTTPException)
    face = face_of(request.app, request.url.path)
    if exc.status_code == 404:
        response = face.error(404, f"no operation at {errors.shown(request.url.path)}")
    else:
        response = face.error(exc.status_code, exc.detail)
    response.headers.update(exc.headers or {})
    return response


async def handle_disconnect(_conn: HTTPConnection, _exc: Exception) -> None:
    """A client that closed its connection before sending all of its body (Starlette's ClientDisconnect):
    there is nobody to answer and nothing wrong with the server, so no response and no traceback. The
    access log records the request, with status 499, even when the access log is off.
    """
