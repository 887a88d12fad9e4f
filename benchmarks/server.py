"""Start a real `modelshelf serve` process on a free port and a fresh data directory, and always stop it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    pid: int
    data_dir: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ServerFailed(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def executable() -> str:
    """The `modelshelf` script of the interpreter running the harness (the project venv)."""
    beside = Path(sys.executable).with_name("modelshelf")
    if beside.exists():
        return str(beside)
    found = shutil.which("modelshelf")
    if found is None:
        raise ServerFailed("no `modelshelf` executable: run `make bench` (it installs the project) first")
    return found


@contextlib.contextmanager
def running(database_url: str | None = None, keep_data: bool = False) -> Iterator[Server]:
    """Yield a ready server; stop it (SIGTERM, then SIGKILL) whatever happens, Ctrl-C included."""
    host = "127.0.0.1"
    port = free_port(host)
    data_dir = Path(tempfile.mkdtemp(prefix="modelshelf-bench-"))
    log_path = data_dir / "server.log"
    env = {**os.environ, "MODELSHELF_DATA_DIR": str(data_dir), "MODELSHELF_LOG_LEVEL": "warning"}
    if database_url:
        env["MODELSHELF_DATABASE_URL"] = database_url
    else:
        env.pop("MODELSHELF_DATABASE_URL", None)
    command = [executable(), "serve", "--host", host, "--port", str(port)]
    with log_path.open("wb") as log:
        # Its own session: a Ctrl-C in the terminal reaches the harness only, which then stops the server
        # in order rather than racing it.
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        server = Server(host, port, proc.pid, data_dir, log_path)
        _wait_ready(proc, server)
        yield server
    finally:
        _stop(proc)
        if keep_data:
            print(f"server data and log kept in {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def _wait_ready(proc: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(
                f"server exited with code {proc.returncode} before it was ready:\n{log_tail(server)}"
            )
        try:
            with urllib.request.urlopen(server.base_url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:200]!r}"
        except OSError as exc:
            last = exc.__class__.__name__
        time.sleep(0.1)
    raise ServerFailed(
        f"GET /readyz not 200 after {READY_TIMEOUT_S:.0f} s (last: {last}):\n{log_tail(server)}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def log_tail(server: Server, lines: int = 40) -> str:
    try:
        text = server.log_path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])
