"""The HTTP server: granian (hyper, in Rust) embedded in this process, with the limits a server that faces
clients directly must set.

Why granian: uvicorn with httptools (what ran before) has no cap on header size and no timeout for a
connection that sends nothing or stalls in its headers or body; its h11 mode and hypercorn close more of
those gaps but cost two to three times the CPU per request. Granian enforces most limits itself at
uvicorn's throughput (make bench, 16 connections: equal or higher req/s on /healthz and GET by id, about
15 % more server CPU per request, and p50 at one connection ~0.3 ms instead of ~0.2 ms).

Who enforces what:
- header size (`max_header_bytes`): hyper's read buffer; over it the request gets 431 and the connection
  is closed.
- no request, stalled headers, idle keep-alive (`header_timeout`, `keep_alive_timeout`): hyper's header
  read timeout, which runs both on a new connection and between requests on a kept-alive one; it is one
  timer, so it is set to the smaller of the two.
- concurrent connections (`max_connections`): granian's backpressure, a semaphore taken before accept;
  connections over the cap wait in the kernel's listen backlog, holding no descriptor of this process,
  until a slot frees.
- stalled body (`body_timeout`): granian has no such timeout, so `BodyDeadline` below, an ASGI
  middleware, ends the request with 408 (in the format of the face the path belongs to) and closes the
  connection.
- SIGTERM (`shutdown_timeout`): granian stops accepting, closes idle connections, lets requests already
  received finish. A body still stalled a second before the deadline is ended with 408 by
  `BodyDeadline`, so the app shuts down in order; a handler still running at the deadline is cancelled
  by granian (which logs it as an error) and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any

import uvloop
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.embed import Server
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelshelf.settings import Settings

LISTEN_BACKLOG = 2048  # connections over `max_connections` queue here, in the kernel
HYPER_MIN_BUFFER = 8192  # hyper refuses a smaller read buffer
# Granian's own loggers, handed to whatever the process's logging configuration is, instead of granian's
# handlers on stdout; disable_existing_loggers stays off so the app's loggers are left alone.
GRANIAN_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {},
    "handlers": {},
    "loggers": {"_granian": {"propagate": True}, "granian.access": {"propagate": True, "level": "INFO"}},
}


# (path, status, message) -> the error response of the face that serves `path`
ErrorResponse = Callable[[str, int, str], Response]


def run(app: ASGIApp, settings: Settings, *, errors: ErrorResponse, access_log: bool = False) -> int:
    """Serve `app` on settings.host:settings.port until SIGTERM or SIGINT; the exit status. `errors`
    writes the answers this layer gives itself (408) in the format of the face a path belongs to."""
    return uvloop.run(_serve(app, settings, errors, access_log))


async def _serve(app: ASGIApp, settings: Settings, errors: ErrorResponse, access_log: bool) -> int:
    body_deadline = BodyDeadline(app, settings.body_timeout, errors)
    server = Server(
        body_deadline,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        backlog=LISTEN_BACKLOG,
        backpressure=settings.max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=_milliseconds(min(settings.header_timeout, settings.keep_alive_timeout)),
            keep_alive=settings.keep_alive_timeout > 0,
            max_buffer_size=max(settings.max_header_bytes, HYPER_MIN_BUFFER),
        ),
        log_level=LogLevels(settings.log_level),
        log_dictconfig=GRANIAN_LOGGING,
        log_access=access_log,
    )
    # Granian waits this long for its worker to finish the requests it holds, then cancels it.
    server.workers_kill_timeout = max(1, round(settings.shutdown_timeout))
    loop = asyncio.get_running_loop()

    def shut_down() -> None:
        # Stalled bodies end before granian's own deadline, leaving a moment to answer them.
        grace = max(settings.shutdown_timeout - 1.0, settings.shutdown_timeout / 2)
        body_deadline.stop_waiting_by(loop.time() + grace)
        server.stop()  # type: ignore[no-untyped-call]  # granian leaves it unannotated

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, shut_down)
    # The worker is cancelled at the deadline; that ends the wait, and the requests it dropped with it.
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await server.serve()
    return 0


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class BodyDeadline:
    """End a request whose body stops arriving: after `seconds` without a chunk, 408 and close.

    To the app, a stalled body looks like what it is about to become, a client that went away
    (`http.disconnect`); anything the app then tries to send is dropped in favour of the 408.
    Only waits for the body are timed: once it is complete, a wait on `receive` is the app listening
    for a disconnect, which may last as long as the response does.
    """

    def __init__(self, app: ASGIApp, seconds: float, errors: ErrorResponse) -> None:
        self.app = app
        self.seconds = seconds
        self.errors = errors
        self._cutoff: float | None = None  # loop time by which every wait ends: set at shutdown
        self._waits: set[asyncio.Timeout] = set()

    def stop_waiting_by(self, when: float) -> None:
        """Shutting down: no wait for a body, current or future, lasts past `when` (loop time)."""
        self._cutoff = when
        for wait in self._waits:
            wait.reschedule(min(wait.when() or when, when))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_complete = False
        stalled = False
        response_started = False

        async def receive_with_deadline() -> Message:
            nonlocal body_complete, stalled
            if body_complete or stalled:
                return await receive()
            try:
                async with asyncio.timeout(self.seconds) as wait:
                    if self._cutoff is not None:
                        wait.reschedule(min(wait.when() or self._cutoff, self._cutoff))
                    self._waits.add(wait)
                    try:
                        message = await receive()
                    finally:
                        self._waits.discard(wait)
            except TimeoutError:
                stalled = True
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        async def send_unless_stalled(message: Message) -> None:
            nonlocal response_started
            if stalled:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive_with_deadline, send_unless_stalled)
        except Exception:
            if not stalled:
                raise
        if stalled and not response_started:
            response = self.errors(scope["path"], 408, "the request body did not arrive in time")
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
