"""A minimal HTTP/1.1 keep-alive client on asyncio streams.

httpx would do, but its per-request CPU cost is several times this one's, and on a two-core machine every
cycle the load generator burns is taken from the server it measures. This client only speaks what the
harness needs: one request at a time per connection, JSON bodies, `Content-Length` framed responses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


class ProtocolError(Exception):
    """The server answered something this client does not parse (or closed the connection)."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> object:
        return orjson.loads(self.body)


class Connection:
    """One persistent connection; reconnects by itself when the server asked to close it.

    With a `token`, every request carries `Authorization: Bearer <token>`."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host = host
        self.port = port
        auth = "" if token is None else f"Authorization: Bearer {token}\r\n"
        self._headers = f"Host: {host}:{port}\r\n{auth}"  # sent with every request
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: object = None) -> Reply:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        payload = b"" if body is None else orjson.dumps(body)
        head = f"{method} {path} HTTP/1.1\r\n{self._headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self._writer.write(head.encode("latin-1") + b"\r\n" + payload)
        try:
            raw_head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            raise ProtocolError(f"connection closed before a response to {method} {path}") from exc
        status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length: int | None = None
        close = False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if length is None:
            await self.close()
            raise ProtocolError(f"response to {method} {path} has no Content-Length: {status_line}")
        reply = Reply(status, await self._reader.readexactly(length))
        if close:
            await self.close()
        return reply

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is installed (it is: the server depends on it), else the stdlib loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a runtime dependency of the server
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh event loop."""
    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
