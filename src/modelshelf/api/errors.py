"""Domain errors -> the `{code, message}` body of the Kubeflow face (and of our admin face, which follows it).

`code` is the HTTP reason phrase, as upstream writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

import orjson
from sqlalchemy.exc import OperationalError
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from modelshelf import errors
from modelshelf.observability.metrics import count_database_error

log = logging.getLogger("modelshelf.api")

STATUS: list[tuple[type[Exception], int]] = [
    (errors.PayloadTooLarge, 413),
    (errors.MissingField, 422),
    (errors.InvalidArgument, 400),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.Unavailable, 503),
]


def status_of(exc: Exception) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_response(status: int, message: str) -> Response:
    # 422 keeps upstream's "Bad Request" code: the Kubeflow server reports missing fields that way.
    code = "Bad Request" if status == 422 else HTTPStatus(status).phrase
    headers = {"WWW-Authenticate": 'Bearer realm="modelshelf"'} if status == 401 else None
    body = orjson.dumps({"code": code, "message": message})
    return Response(body, status, headers=headers, media_type="application/json")


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal server error")


async def handle_disconnect(_conn: HTTPConnection, _exc: Exception) -> None:
    """A client that closed its connection before sending all of its body (Starlette's ClientDisconnect):
    there is nobody to answer and nothing wrong with the server, so no response and no traceback. The
    access log records the request, with status 499, even when the access log is off.
    """


def guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Answer domain errors, and a database that is down, in this face's format."""

    async def endpoint(request: Request) -> Response:
        query = request.scope["query_string"]
        if b"%00" in query or b"\x00" in query:
            # Refused wherever it is, as upstream does: no parameter means a NUL, and none can store one.
            return error_response(400, "the query string contains a NUL character")
        try:
            return await handler(request)
        except errors.RegistryError as exc:
            return error_response(status_of(exc), str(exc))
        except OperationalError as exc:
            log.warning("database unavailable: %s", exc.__class__.__name__)
            count_database_error(request.scope, exc)
            return error_response(503, "the database is unavailable, try again later")

    return endpoint
