"""Operating the server: replicas starting at once on one empty database, start-up failures an operator
can fix (one line, no traceback), private database files, and /readyz noticing a deleted database file.

Everything runs as real `modelshelf` processes. Root ignores permission bits, so when the tests run as
root the read-only cases drop the two capabilities that let it (setpriv), and the full disk is a small
tmpfs mounted in a private mount namespace (unshare) that goes away with the process.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from modelshelf.store import migrate, tables
from modelshelf.store.engine import connect
from tests.fixtures.serve import call, free_port, modelshelf_command, ready, request, serving, stop

REPLICAS = 4
ROUNDS = 3
READY_TIMEOUT_S = 60.0
BASE_ENV = {"PATH": "/usr/bin:/bin"}
IS_ROOT = os.geteuid() == 0
# Root would write into a 0555 directory anyway; without these capabilities it obeys the bits like anyone.
AS_UNPRIVILEGED = (
    ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
    if IS_ROOT
    else []
)


# --- replicas --------------------------------------------------------------------------------------------


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    base_url: str
    out: Path
    err: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


@contextmanager
def replicas(env: dict[str, str], logs: Path, count: int, umask: int = 0o022) -> Iterator[list[Replica]]:
    """`count` `modelshelf serve` processes started back to back (each then spends about a second on its
    imports, so they reach the database together); all stopped when the block ends."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    started: list[Replica] = []
    try:
        for index, port in enumerate(sorted(ports)):
            out, err = logs / f"replica{index}.out", logs / f"replica{index}.err"
            with open(out, "wb") as out_file, open(err, "wb") as err_file:
                process = subprocess.Popen(
                    [*modelshelf_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out_file,
                    stderr=err_file,
                    umask=umask,
                )
            started.append(Replica(process, f"http://127.0.0.1:{port}", out, err))
        yield started
    finally:
        for replica in started:
            stop(replica.process)


def wait_all_ready(started: list[Replica]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = list(started)
    while waiting and time.monotonic() < deadline:
        for replica in list(waiting):
            if replica.process.poll() is not None:
                pytest.fail(f"a replica exited with {replica.process.returncode}:\n{replica.output()}")
            if ready(replica.base_url):
                waiting.remove(replica)
        time.sleep(0.05)
    assert not waiting, f"not ready after {READY_TIMEOUT_S} s:\n" + "\n".join(r.output() for r in waiting)


def assert_one_admin_at_head(database_url: str, started: list[Replica]) -> None:
    engine = connect(database_url, poolclass=NullPool)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as conn:
            users = conn.execute(select(tables.user.c.name)).scalars().all()
            tokens = conn.execute(select(func.count()).select_from(tables.api_token)).scalar()
    finally:
        engine.dispose()
    assert users == ["admin"] and tokens == 1
    announced = [r for r in started if "Created the admin user" in r.out.read_text(errors="replace")]
    assert len(announced) == 1, "exactly one replica made the admin and showed its token"


def test_replicas_start_at_once_on_an_empty_sqlite_database(tmp_path: Path) -> None:
    for attempt in range(ROUNDS):
        data_dir = tmp_path / f"round{attempt}" / "data"  # not there yet: they race to create it too
        logs = tmp_path / f"logs{attempt}"
        logs.mkdir()
        env = {**BASE_ENV, "MODELSHELF_DATA_DIR": str(data_dir)}
        with replicas(env, logs, REPLICAS) as started:
            wait_all_ready(started)
            assert_one_admin_at_head(f"sqlite:///{data_dir / 'modelshelf.db'}", started)


@pytest.mark.postgres
def test_replicas_start_at_once_on_an_empty_postgres_database(postgres_url: str, tmp_path: Path) -> None:
    for attempt in range(ROUNDS):
        name = f"modelshelf_replicas_{attempt}"
        url = _create_empty_database(postgres_url, name)
        logs = tmp_path / f"logs{attempt}"
        logs.mkdir()
        try:
            with replicas({**BASE_ENV, "MODELSHELF_DATABASE_URL": url}, logs, REPLICAS) as started:
                wait_all_ready(started)
                assert_one_admin_at_head(url, started)
        finally:
            _drop_database(postgres_url, name)


def _server(postgres_url: str) -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(postgres_url)
    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True, connect_timeout=5
    )


def _create_empty_database(postgres_url: str, name: str) -> str:
    with _server(postgres_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(postgres_url: str, name: str) -> None:
    with _server(postgres_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- start-up failures: one line that says which and what to do ------------------------------------------

COMMANDS = {
    "serve": ["serve", "--host", "127.0.0.1"],  # the port is added per run
    "db upgrade": ["db", "upgrade"],
}


def run(
    command: str, env: dict[str, str], *, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    args = list(COMMANDS[command])
    if command == "serve":
        args += ["--port", str(free_port())]
    return subprocess.run(
        [*(prefix or []), *modelshelf_command(), *args],
        env={**BASE_ENV, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,  # a serve that starts after all is killed here, and the test fails
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    line = result.stderr.strip()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and len(line.splitlines()) == 1, result.stderr
    assert line.startswith("error: "), line
    for part in expected:
        assert part in line, line
    return line


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_data_directory(command: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o555)
    result = run(command, {"MODELSHELF_DATA_DIR": str(data_dir)}, prefix=AS_UNPRIVILEGED)
    assert_one_line(result, f"data directory {data_dir} is read-only", "MODELSHELF_DATA_DIR")
    assert list(data_dir.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_data_directory_made_read_only_after_its_database(command: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"MODELSHELF_DATA_DIR": str(data_dir)}
    assert run("db upgrade", env).returncode == 0
    (data_dir / "modelshelf.db-wal").unlink(missing_ok=True)  # SQLite must create them again, and cannot
    (data_dir / "modelshelf.db-shm").unlink(missing_ok=True)
    data_dir.chmod(0o555)
    result = run(command, env, prefix=AS_UNPRIVILEGED)
    assert_one_line(result, f"data directory {data_dir} is read-only")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_data_directory_that_cannot_be_created(command: str, tmp_path: Path) -> None:
    parent = tmp_path / "locked-parent"
    parent.mkdir(mode=0o555)
    result = run(command, {"MODELSHELF_DATA_DIR": str(parent / "data")}, prefix=AS_UNPRIVILEGED)
    assert_one_line(result, f"cannot create data directory {parent / 'data'}", f"{parent} is read-only")
    file = tmp_path / "a-file"
    file.write_text("")
    result = run(command, {"MODELSHELF_DATA_DIR": str(file / "data")})
    assert_one_line(result, f"{file} is not a directory")


# Arguments: mount point, "new" or "existing", the modelshelf program, then the command to run. A tmpfs of
# 512 KiB, filled up; for "existing", a migrated database made on it first, while there was room.
_FULL_DISK = """set -e
mount -t tmpfs -o size=512k modelshelf-full "$1"
if [ "$2" = existing ]; then MODELSHELF_DATA_DIR="$1/data" "$3" db upgrade >/dev/null; fi
head -c 8M /dev/zero > "$1/filler" 2>/dev/null || true
shift 3
exec "$@"
"""


@pytest.mark.parametrize(
    ("command", "database"), [("serve", "new"), ("db upgrade", "new"), ("serve", "existing")]
)
def test_a_full_disk(command: str, database: str, tmp_path: Path) -> None:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    namespace = ["unshare", "--mount", *([] if IS_ROOT else ["--map-root-user"])]
    prefix = [*namespace, "sh", "-c", _FULL_DISK, "sh", str(mount_point), database, modelshelf_command()[0]]
    data_dir = mount_point / "data"
    result = run(command, {"MODELSHELF_DATA_DIR": str(data_dir)}, prefix=prefix)
    assert_one_line(result, f"no space left on the disk of data directory {data_dir}")


@contextmanager
def sqlite_write_lock(path: Path) -> Iterator[None]:
    """Another process holding SQLite's write lock (BEGIN EXCLUSIVE) on `path` until the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline() == b"held\n"
        yield
    finally:
        holder.stdin.close()  # the holder reads to the end of its input, then exits
        holder.wait(timeout=10)
        holder.stdout.close()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_sqlite_database_locked_by_another_process(command: str, tmp_path: Path) -> None:
    env = {"MODELSHELF_DATA_DIR": str(tmp_path), "MODELSHELF_MIGRATION_LOCK_TIMEOUT": "1"}
    assert run("db upgrade", env).returncode == 0
    with sqlite_write_lock(tmp_path / "modelshelf.db"):
        started = time.monotonic()
        result = run(command, env)
        waited = time.monotonic() - started
    assert_one_line(result, f"database {tmp_path / 'modelshelf.db'} is locked by another process")
    assert waited < 30, "the lock timeout (1 s) bounds the wait"
    assert run("db upgrade", env).returncode == 0, "and once the lock is gone, all is well"


@pytest.mark.postgres
@pytest.mark.parametrize("command", COMMANDS)
def test_a_postgres_migration_lock_held_by_another_session(
    command: str, postgres_url: str, tmp_path: Path
) -> None:
    url = _create_empty_database(postgres_url, "modelshelf_lock_held")
    parsed = make_url(url)
    try:
        with psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database, autocommit=True
        ) as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", [migrate.LOCK_KEY])
            env = {"MODELSHELF_DATABASE_URL": url, "MODELSHELF_MIGRATION_LOCK_TIMEOUT": "1"}
            result = run(command, env)
            pid = holder.info.backend_pid
        assert_one_line(result, "migration lock", f"(server process {pid})", "more than 1 s")
        engine = connect(url, poolclass=NullPool)
        try:
            assert migrate.current_revision(engine) is None, "nothing was migrated without the lock"
        finally:
            engine.dispose()
    finally:
        _drop_database(postgres_url, "modelshelf_lock_held")


@pytest.mark.parametrize("command", COMMANDS)
def test_postgres_unreachable(command: str) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://modelshelf:not-shown@127.0.0.1:{port}/registry"
    line = assert_one_line(
        run(command, {"MODELSHELF_DATABASE_URL": url}),
        f"cannot connect to PostgreSQL at 127.0.0.1:{port}/registry",
        "MODELSHELF_DATABASE_URL",
    )
    assert "not-shown" not in line


# --- files ---------------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_are_private_after_a_real_serve(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with replicas({**BASE_ENV, "MODELSHELF_DATA_DIR": str(data_dir)}, tmp_path, 1, umask=0o022) as started:
        wait_all_ready(started)
        database = data_dir / "modelshelf.db"
        files = [database, database.with_name("modelshelf.db-wal"), database.with_name("modelshelf.db-shm")]
        modes = {path.name: oct(_mode(path)) for path in files}
    assert modes == {path.name: "0o600" for path in files}
    assert _mode(data_dir) == 0o700


def test_an_existing_data_directory_keeps_its_mode(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o750)
    data_dir.chmod(0o750)
    assert run("db upgrade", {"MODELSHELF_DATA_DIR": str(data_dir)}).returncode == 0
    assert _mode(data_dir) == 0o750, "the operator chose it"
    assert _mode(data_dir / "modelshelf.db") == 0o600


# --- readiness -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_readyz_turns_red_when_the_database_file_goes(change: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    database = data_dir / "modelshelf.db"
    token = "msh_" + "t" * 43
    env = {**BASE_ENV, "MODELSHELF_DATA_DIR": str(data_dir), "MODELSHELF_ADMIN_TOKEN": token}
    models = "/api/model_registry/v1/registered_models"
    with serving(env, tmp_path / "server") as server:
        assert request(f"{server.base_url}/readyz")[0] == 200
        assert call(f"{server.base_url}{models}", token, "POST", {"name": "before"})[0] == 201
        if change == "deleted":
            for path in data_dir.iterdir():
                path.unlink()
        else:
            copy = data_dir / "copy.db"
            shutil.copyfile(database, copy)
            os.replace(copy, database)
        started = time.monotonic()
        status, body = request(f"{server.base_url}/readyz")
        elapsed = time.monotonic() - started
        assert status == 503, body
        assert f"database file {database} was {change}".encode() in body
        assert elapsed < 1.0
        assert request(f"{server.base_url}/healthz")[0] == 200, "alive, only not ready"
        # A write would be acknowledged into a file nobody can read back: it is refused instead.
        status, answer = call(f"{server.base_url}{models}", token, "POST", {"name": "lost"})
        assert status == 503 and "restart the server" in answer["message"], answer
        if change == "deleted":
            assert not database.exists(), "the probe did not create an empty database in its place"
