"""Connection limits and graceful shutdown, against a real `modelshelf serve` process and raw sockets.

Limits are set small through the environment so that each test takes a few seconds; the bounds asserted
are generous (this machine is shared and noisy) but far below what an unlimited server would take.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.serve import free_port, modelshelf_command, ready, stop

MODELS = "/api/model_registry/v1/registered_models"
LIMITS = {
    "MODELSHELF_HEADER_TIMEOUT": "1",
    "MODELSHELF_KEEP_ALIVE_TIMEOUT": "1",
    "MODELSHELF_BODY_TIMEOUT": "1",
    "MODELSHELF_SHUTDOWN_TIMEOUT": "3",
    "MODELSHELF_MAX_HEADER_BYTES": "16384",
    "MODELSHELF_MAX_CONNECTIONS": "20",
}


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    logs: Path

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.process.pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def output(self) -> str:
        return self.logs.read_text(errors="replace")


@contextmanager
def serve(tmp_path: Path, **limits: str) -> Iterator[Served]:
    """`modelshelf serve --no-auth` with LIMITS (and `limits`), its process at hand for signals."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
    env.update(LIMITS, MODELSHELF_DATA_DIR=str(tmp_path / "data"))
    env.update({f"MODELSHELF_{name.upper()}": value for name, value in limits.items()})
    port = free_port()
    logs = tmp_path / "server.log"
    with open(logs, "wb") as out:
        process = subprocess.Popen(
            [*modelshelf_command(), "serve", "--no-auth", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and not ready(f"http://127.0.0.1:{port}"):
            assert time.monotonic() < deadline, logs.read_text()
            time.sleep(0.1)
        assert process.poll() is None, logs.read_text()
        yield Served(process, port, logs)
    finally:
        stop(process)


def seconds_until_closed(sock: socket.socket, limit: float = 15.0) -> tuple[float, bytes]:
    """Read until the server closes the connection: how long that took, and what it sent."""
    start, received = time.monotonic(), b""
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return float("inf"), received
    except ConnectionResetError:
        pass
    return time.monotonic() - start, received


def healthz(served: Served) -> bytes:
    """The status line of GET /healthz on a connection of its own."""
    with served.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return seconds_until_closed(sock, 10)[1].split(b"\r\n")[0]


def create_request(name: str) -> tuple[bytes, bytes]:
    body = json.dumps({"name": name}).encode()
    head = f"POST {MODELS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode(), body


OK = b"HTTP/1.1 200 OK"


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(tmp_path: Path) -> None:
    with serve(tmp_path) as served, served.connect() as silent:
        assert healthz(served) == OK
        took, received = seconds_until_closed(silent)
        assert 0.5 < took < 5 and received in (b"", b"HTTP/1.1 408"[: len(received)]), (took, received)


def test_headers_that_stall_are_closed_after_the_header_timeout(tmp_path: Path) -> None:
    with serve(tmp_path) as served, served.connect() as stalled:
        stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never the blank line
        assert healthz(served) == OK
        took, received = seconds_until_closed(stalled)
        assert 0.5 < took < 5 and b"200" not in received, (took, received)


def test_a_header_over_the_cap_is_refused_long_before_it_is_all_sent(tmp_path: Path) -> None:
    sent, chunk, total = 0, b"a" * 65536, 8 * 1024 * 1024
    with serve(tmp_path) as served, served.connect() as sock:
        rss_before = served.rss_bytes()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        start = time.monotonic()
        with pytest.raises(OSError):  # the server closes the connection: a reset or a broken pipe
            while sent < total:
                sent += sock.send(chunk)
            sock.sendall(b"\r\n\r\n")
            seconds_until_closed(sock)
            raise AssertionError("the whole 8 MB header was read and the connection kept open")
        assert time.monotonic() - start < 5
        # What reached the server before the close sits in the kernel's buffers, not in the process.
        assert sent < total / 2, sent
        assert served.rss_bytes() - rss_before < 4 * 1024 * 1024
        assert healthz(served) == OK


def test_a_header_over_the_cap_gets_431(tmp_path: Path) -> None:
    with serve(tmp_path) as served, served.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        took, received = seconds_until_closed(sock)
        assert received.startswith(b"HTTP/1.1 431"), received
        assert took < 5


def test_a_body_that_never_arrives_gets_408_after_the_body_timeout(tmp_path: Path) -> None:
    head, body = create_request("never-finished")
    with serve(tmp_path) as served, served.connect() as sock:
        sock.sendall(head + body[:5])
        assert healthz(served) == OK
        took, received = seconds_until_closed(sock)
        assert received.startswith(b"HTTP/1.1 408"), received
        # In the format of the face the path belongs to (a Kubeflow POST here).
        assert received.partition(b"\r\n\r\n")[2] == (
            b'{"code":"Request Timeout","message":"the request body did not arrive in time"}'
        ), received
        assert 0.5 < took < 5
        assert healthz(served) == OK


def test_sigterm_does_not_wait_for_a_body_that_never_arrives(tmp_path: Path) -> None:
    head, body = create_request("never-finished")
    with serve(tmp_path, body_timeout="120", shutdown_timeout="2") as served, served.connect() as sock:
        sock.sendall(head + body[:5])
        time.sleep(0.3)
        start = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=15) == 0
        assert time.monotonic() - start < 8
        took, received = seconds_until_closed(sock, 5)
        assert took < 5 and received.startswith(b"HTTP/1.1 408"), received


def test_sigterm_answers_the_request_in_flight_then_exits_0(tmp_path: Path) -> None:
    head, body = create_request("in-flight")
    with serve(tmp_path, body_timeout="10", shutdown_timeout="10") as served, served.connect() as sock:
        sock.sendall(head + body[:5])  # received, not finished: in flight
        time.sleep(0.3)
        start = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        sock.sendall(body[5:])
        _, received = seconds_until_closed(sock)
        assert received.startswith(b"HTTP/1.1 201"), received
        assert b'"name":"in-flight"' in received.replace(b" ", b"")
        assert served.process.wait(timeout=15) == 0
        assert time.monotonic() - start < 10


def test_an_idle_keep_alive_connection_is_closed_at_shutdown(tmp_path: Path) -> None:
    with serve(tmp_path, keep_alive_timeout="60", header_timeout="60") as served, served.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(OK)
        start = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        took, received = seconds_until_closed(sock)
        assert received == b"" and took < 3
        assert served.process.wait(timeout=15) == 0
        assert time.monotonic() - start < 5


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(tmp_path: Path) -> None:
    with serve(tmp_path) as served, served.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(OK)
        took, received = seconds_until_closed(sock)
        assert received == b"" and 0.5 < took < 5


def test_connections_over_the_cap_do_not_exhaust_the_server(tmp_path: Path) -> None:
    """60 idle connections against a cap of 20: the server holds at most 20 of them and stays alive;
    once they time out, a client is served, and at once when they are closed."""
    with serve(tmp_path, header_timeout="2", keep_alive_timeout="2") as served:
        baseline = served.open_files()
        idle = [served.connect() for _ in range(60)]
        try:
            time.sleep(0.5)
            assert served.open_files() <= baseline + 20 + 2
            start = time.monotonic()
            assert healthz(served) == OK  # queued in the backlog until idle connections time out
            assert time.monotonic() - start < 10
            assert served.process.poll() is None
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.5)
        start = time.monotonic()
        assert healthz(served) == OK
        assert time.monotonic() - start < 1
