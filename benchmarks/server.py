"""Start a real `modelshelf serve` process on a free port and a data directory, and always stop it.

Authentication is on unless `no_auth`: each server gets a fresh admin token (MODELSHELF_ADMIN_TOKEN),
which the harness sends as `Authorization: Bearer <token>` and never prints or records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
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
from dataclasses import dataclass, field, replace
from pathlib import Path

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
TOKEN_ENV = "MODELSHELF_ADMIN_TOKEN"
AUTH_CHECK_PATH = "/api/model_registry/v1/registered_models?pageSize=1"  # any route that needs a token


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    pid: int
    data_dir: Path
    log_path: Path
    token: str | None = field(default=None, repr=False)  # None: `serve --no-auth`

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


def new_token() -> str:
    """A token in the server's own format: `msh_` and 43 characters of base64url."""
    return "msh_" + secrets.token_urlsafe(32)


@contextlib.contextmanager
def data_directory(keep: bool = False) -> Iterator[Path]:
    """A fresh temporary data directory, removed afterwards unless `keep`."""
    path = Path(tempfile.mkdtemp(prefix="modelshelf-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"server data and logs kept in {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running(
    database_url: str | None = None,
    keep_data: bool = False,
    *,
    data_dir: Path | None = None,
    no_auth: bool = False,
    config: Path | None = None,
) -> Iterator[Server]:
    """Yield a ready server; stop it (SIGTERM, then SIGKILL) whatever happens, Ctrl-C included.

    Without `data_dir` the server gets a fresh one, removed afterwards unless `keep_data`; a `data_dir`
    given (say, an earlier server's, to serve the same dataset) is left as it is. With `no_auth` the
    server runs `serve --no-auth` and `Server.token` is None.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = stack.enter_context(data_directory(keep_data))
        host = "127.0.0.1"
        port = free_port(host)
        log_path = _log_path(data_dir, "server-no-auth" if no_auth else "server")
        token = None if no_auth else new_token()
        env = _env(data_dir, database_url, token)
        if config is not None:
            env["MODELSHELF_CONFIG"] = str(config)
        command = [executable(), "serve", "--host", host, "--port", str(port)]
        if no_auth:
            command.append("--no-auth")
        with log_path.open("wb") as log:
            # Its own session: a Ctrl-C in the terminal reaches the harness only, which then stops the
            # server in order rather than racing it.
            proc = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        stack.callback(_stop, proc)
        server = Server(host, port, proc.pid, data_dir, log_path, token)
        _wait_ready(proc, server)
        yield _with_usable_token(server, env)


def _env(data_dir: Path, database_url: str | None, token: str | None) -> dict[str, str]:
    """The harness's environment; data directory, database and admin token are set here, never inherited."""
    env = {**os.environ, "MODELSHELF_DATA_DIR": str(data_dir), "MODELSHELF_LOG_LEVEL": "warning"}
    env.pop("MODELSHELF_DATABASE_URL", None)
    env.pop("MODELSHELF_CONFIG", None)  # a developer's configuration file would change what is measured
    env.pop(TOKEN_ENV, None)
    if database_url:
        env["MODELSHELF_DATABASE_URL"] = database_url
    if token is not None:
        env[TOKEN_ENV] = token
    return env


def _log_path(data_dir: Path, stem: str) -> Path:
    """`<stem>.log`, or `<stem>-2.log` ... when an earlier server in the same directory wrote that one."""
    path, n = data_dir / f"{stem}.log", 1
    while path.exists():
        n += 1
        path = data_dir / f"{stem}-{n}.log"
    return path


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


def _with_usable_token(server: Server, env: dict[str, str]) -> Server:
    """`server`, with a token it accepts.

    A database that already has users (a PostgreSQL database reused across runs) ignores
    MODELSHELF_ADMIN_TOKEN: the harness then makes its own token with `modelshelf token create`."""
    if server.token is None or _accepts(server, server.token):
        return server
    print(
        f"note: the database already has users, so {TOKEN_ENV} was ignored: "
        "creating a token with `modelshelf token create admin` (models:write, expires in 1 day)",
        file=sys.stderr,
    )
    token = _create_token(env)
    if not _accepts(server, token):
        raise ServerFailed(
            f"the server refuses the token it made with `modelshelf token create`:\n{log_tail(server)}"
        )
    return replace(server, token=token)


def _accepts(server: Server, token: str) -> bool:
    request = urllib.request.Request(
        server.base_url + AUTH_CHECK_PATH, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10):  # anything but 2xx raises
            return True
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return False
        raise ServerFailed(f"GET {AUTH_CHECK_PATH} -> HTTP {exc.code}: {exc.read()[:500]!r}") from exc
    except OSError as exc:
        raise ServerFailed(f"GET {AUTH_CHECK_PATH}: {exc}") from exc


def _create_token(env: dict[str, str]) -> str:
    name = f"bench-{dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    command = [executable(), "token", "create", "admin", "--name", name, "--scope", "models:write"]
    command += ["--expires-in-days", "1"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # stderr only: stdout is where the secret would be
        raise ServerFailed(f"`{' '.join(command)}` failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def log_tail(server: Server, lines: int = 40) -> str:
    """The end of the server's log, with its token (should the server ever print it) masked."""
    try:
        text = server.log_path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    if server.token:
        text = text.replace(server.token, "msh_***")
    return "\n".join(text.splitlines()[-lines:])
