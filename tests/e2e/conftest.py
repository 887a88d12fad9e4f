"""End-to-end fixtures: the real `modelshelf serve` process on a free loopback port, one per test session.

Tests share that server, so each one takes a unique name prefix (`name_prefix`) for everything it creates.
The server bootstraps its admin from `MODELSHELF_ADMIN_TOKEN` (`live_admin_token`), as a container would.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _modelshelf_command() -> list[str]:
    script = Path(sys.executable).with_name("modelshelf")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "modelshelf.cli.main"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


def _read_log(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        return f"<could not read {path}: {exc}>"


@pytest.fixture(scope="session")
def live_admin_token() -> str:
    return "msh_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def live_server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live-server-log") / "server.log"


@pytest.fixture(scope="session")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, live_admin_token: str, live_server_log: Path
) -> Iterator[str]:
    """Start `modelshelf serve` on a free 127.0.0.1 port with a fresh data dir; yield its base URL."""
    data_dir = tmp_path_factory.mktemp("live-server-data")
    log_path = live_server_log
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
    env["MODELSHELF_DATA_DIR"] = str(data_dir)
    env["MODELSHELF_ADMIN_TOKEN"] = live_admin_token
    env["MODELSHELF_LOG_LEVEL"] = "warning"

    # Output goes to a file, not a pipe: nothing can fill up and block the server, and no pipe is left open.
    process: subprocess.Popen[bytes] | None = None
    failure = ""
    for _attempt in range(3):  # the free port can be taken between probing and binding: retry on a new one
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*_modelshelf_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while process.poll() is None and not _ready(base_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None and _ready(base_url):
            failure = ""
            break
        exited = process.poll()
        _stop(process)
        status = f"exited with {exited}" if exited is not None else f"not ready after {READY_TIMEOUT_S:.0f}s"
        failure = f"modelshelf serve on port {port} {status}; its stdout/stderr:\n{_read_log(log_path)}"
        if "address already in use" not in failure.lower():
            break
    if failure or process is None:
        pytest.fail(failure, pytrace=False)

    try:
        yield base_url
    finally:
        _stop(process)


def admin_call(base_url: str, token: str, method: str, path: str, body: object = None) -> dict[str, object]:
    """One call to the admin API of the live server, as JSON."""
    request = urllib.request.Request(
        f"{base_url}/api/admin/v1{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def live_tokens(live_server: str, live_admin_token: str) -> dict[str, str]:
    """A writer's and a reader's token on the live server, as a user would get them from an admin."""
    admin_call(live_server, live_admin_token, "POST", "/users", {"name": "e2e-user"})
    made = {}
    for name, scopes in (("writer", ["models:write"]), ("reader", ["models:read"])):
        token = admin_call(
            live_server,
            live_admin_token,
            "POST",
            "/tokens",
            {"user": "e2e-user", "name": name, "scopes": scopes},
        )
        made[name] = str(token["token"])
    return made


@pytest.fixture
def name_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix unique to this test, for the names of everything it creates on the shared server."""
    test = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-")
    return f"e2e-{test}-{uuid.uuid4().hex[:8]}"
