"""Nothing stalls the server: while requests wait on a lock held elsewhere, a frozen PostgreSQL session or
a frozen PostgreSQL server, `/healthz` and a GET by id answer at once, the waiting request gets a 503 at
its deadline, and afterwards nothing acknowledged is missing.

Each test runs a real `modelshelf serve` process with a 2-second request deadline. The issue's target
is 100 ms for the probes: the tests hold the median of several tries to it, and every try to QUICK_S (a
shared two-core machine has hiccups), still far below the stalls of 5 to 53 seconds they guard against.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from modelshelf import blocking
from modelshelf.errors import DeadlineExceeded
from modelshelf.services import models
from modelshelf.store.engine import connect
from modelshelf.store.session import Database, Session
from tests.fixtures.serve import Server, call, serving

TARGET_S = 0.1
QUICK_S = 1.0
DEADLINE_S = 2.0
MODELS = "/api/model_registry/v1/registered_models"


@dataclass
class Live:
    server: Server
    token: str

    def call(self, path: str, method: str = "GET", body: object = None) -> tuple[int, dict[str, Any]]:
        return call(self.server.base_url + path, self.token, method, body)

    def timed(self, path: str, method: str = "GET", body: object = None) -> tuple[float, int, dict[str, Any]]:
        started = time.monotonic()
        status, answer = self.call(path, method, body)
        return time.monotonic() - started, status, answer

    def assert_responsive(self, model_id: str, rounds: int = 5) -> None:
        """`/healthz` and a GET by id answered `rounds` times each: the median within the issue's 100 ms,
        every one within QUICK_S."""
        for path in ("/healthz", f"{MODELS}/{model_id}"):
            times = []
            for _ in range(rounds):
                took, status, body = self.timed(path)
                assert status == 200, (path, status, body)
                times.append(took)
            print(f"{path}: median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
            assert statistics.median(times) < TARGET_S and max(times) < QUICK_S, (path, times)


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[Live]:
    token = "msh_" + secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
    env |= {
        "MODELSHELF_DATA_DIR": str(tmp_path / "data"),
        "MODELSHELF_DATABASE_URL": database_url,
        "MODELSHELF_ADMIN_TOKEN": token,
        "MODELSHELF_REQUEST_TIMEOUT": str(DEADLINE_S),
    }
    with serving(env, tmp_path / "server") as server:
        yield Live(server, token)


def _create(live: Live, name: str) -> str:
    status, body = live.call(MODELS, "POST", {"name": name})
    assert status == 201, body
    return str(body["id"])


def _in_background(work: Callable[[], Any]) -> tuple[ThreadPoolExecutor, Future[Any]]:
    pool = ThreadPoolExecutor(max_workers=1)
    return pool, pool.submit(work)


def _all_names(live: Live) -> set[str]:
    status, body = live.call(f"{MODELS}?pageSize=1000")
    assert status == 200, body
    return {item["name"] for item in body["items"]}


# --- SQLite ---------------------------------------------------------------------------------------------

_HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


@contextmanager
def _sqlite_lock_held(path: str) -> Iterator[None]:
    """Another process holding SQLite's write lock on `path` until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_a_write_lock_held_by_another_process_stalls_only_the_writes(
    live: Live, backend: str, database_url: str
) -> None:
    if backend != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock: see the row-lock test")
    kept = _create(live, "before-the-lock")
    with _sqlite_lock_held(database_url.removeprefix("sqlite:///")):
        pool, waiting = _in_background(lambda: live.timed(MODELS, "POST", {"name": "during-the-lock"}))
        with pool:
            live.assert_responsive(kept)
            took, status, body = waiting.result(timeout=30)
        # The write waited for the lock until its deadline, in a worker thread, then gave up cleanly.
        assert status == 503 and body["code"] == "Service Unavailable", body
        assert DEADLINE_S * 0.8 < took < DEADLINE_S + 3
    created = _create(live, "after-the-lock")
    assert {"before-the-lock", "after-the-lock"} <= _all_names(live)
    assert "during-the-lock" not in _all_names(live)  # refused, so not half-written either
    assert live.call(f"{MODELS}/{created}")[0] == 200


def test_a_long_custom_property_filter_does_not_stall_the_server(live: Live, engine: Engine) -> None:
    """The measured case: a models:read token's filter of 500 custom-property comparisons over thousands
    of models took 53 s on SQLite while /healthz waited. It now runs on a worker thread within the
    deadline, and its cost grows linearly with the number of terms."""
    with Database(engine).write() as session:
        for i in range(3000):
            properties = {"team": {"metadataType": "MetadataStringValue", "string_value": f"t{i % 50}"}}
            models.create_registered_model(session, {"name": f"m{i}", "custom_properties": properties})
    kept = _create(live, "probe")
    query = " OR ".join(f"team = 't{i}'" for i in range(500))
    path = f"{MODELS}?pageSize=10&filterQuery={urllib.parse.quote(query)}"
    pool, waiting = _in_background(lambda: live.timed(path))
    with pool:
        live.assert_responsive(kept)
        took, status, body = waiting.result(timeout=60)
    assert took < DEADLINE_S + 3, f"the filter took {took:.1f} s"
    # Answered in time, or refused at its deadline; never a stall, never a 500.
    assert status in (200, 503), body
    if status == 200:
        assert len(body["items"]) == 10


def test_the_deadline_interrupts_an_expensive_sqlite_statement(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL bounds statements with its statement_timeout (next test)")
    database = Database(engine)
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded), blocking.deadline_after(0.5):
        database.run(lambda s: s.sql.exec_driver_sql(endless).scalar(), write=False)
    assert time.monotonic() - started < 3
    with database.read() as session:  # the connection went back to the pool disarmed, and still works
        assert session.sql.execute(text("SELECT count(*) FROM registered_model")).scalar() == 0
    database.dispose()


def test_lookups_run_on_the_loop_only_while_they_are_cheap(database_url: str) -> None:
    """On SQLite a lookup runs on the event loop's thread; one that turns out expensive is stopped there
    within LOOKUP_BUDGET_S and runs again on a worker thread, within the request's deadline."""
    engine = connect(database_url, statement_timeout=1.0)  # PostgreSQL's bound on the worker's statement
    database = Database(engine)
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    threads: list[int] = []

    def cheap(session: Session) -> int:
        threads.append(threading.get_ident())
        return int(session.sql.exec_driver_sql("SELECT 1").scalar_one())

    def expensive(session: Session) -> int:
        threads.append(threading.get_ident())
        return int(session.sql.exec_driver_sql(endless).scalar_one())

    async def scenario() -> float:
        loop_thread = threading.get_ident()
        assert await database.looking_up(cheap) == 1
        local = engine.dialect.name == "sqlite"
        assert (threads[-1] == loop_thread) is local  # PostgreSQL: always a worker thread
        threads.clear()
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded), blocking.deadline_after(1.0):
            await database.looking_up(expensive)
        if local:
            assert threads[0] == loop_thread and threads[1] != loop_thread, threads
        return time.monotonic() - started

    try:
        assert asyncio.run(scenario()) < 4
    finally:
        database.dispose()  # waits for the worker still running the endless query, until its timeout


def test_postgres_bounds_every_statement(engine: Engine, database_url: str) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite statements are bounded by the progress handler (previous test)")
    bounded = connect(database_url, statement_timeout=0.5)
    database = Database(bounded)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded), blocking.deadline_after(0.5):
        database.run(lambda s: s.sql.exec_driver_sql("SELECT pg_sleep(20)").scalar(), write=False)
    assert time.monotonic() - started < 5
    database.dispose()


# --- PostgreSQL -------------------------------------------------------------------------------------------


def _postgres(database_url: str) -> Any:
    import psycopg

    return psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def test_a_frozen_session_holding_a_row_lock_stalls_only_that_row(
    live: Live, backend: str, database_url: str
) -> None:
    if backend != "postgres":
        pytest.skip("a PostgreSQL row lock; SQLite's lock is the whole database (test above)")
    kept = _create(live, "readable")
    locked = _create(live, "locked")
    with closing(_postgres(database_url)) as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT id FROM registered_model WHERE id = %s FOR UPDATE", (int(locked),))
        backend_pid = holder.execute("SELECT pg_backend_pid()").fetchone()[0]
        os.kill(backend_pid, signal.SIGSTOP)  # the session holding the lock is frozen, not just idle
        try:
            pool, waiting = _in_background(
                lambda: live.timed(f"{MODELS}/{locked}", "PATCH", {"description": "waited"})
            )
            with pool:
                live.assert_responsive(kept)
                live.assert_responsive(locked)  # reading the locked row does not wait (MVCC)
                took, status, body = waiting.result(timeout=60)
            assert status == 503 and body["code"] == "Service Unavailable", body
            assert took < DEADLINE_S + 3
        finally:
            os.kill(backend_pid, signal.SIGCONT)
        holder.execute("ROLLBACK")
    status, body = live.call(f"{MODELS}/{locked}", "PATCH", {"description": "after"})
    assert status == 200 and body["description"] == "after", body
    assert {"readable", "locked"} <= _all_names(live)


def _postgres_processes(database_url: str) -> list[int]:
    """The postmaster of the server behind `database_url`, then every process it started."""
    with closing(_postgres(database_url)) as connection:
        backend_pid = connection.execute("SELECT pg_backend_pid()").fetchone()[0]
        postmaster = _parent(backend_pid)
    children = [int(e) for e in os.listdir("/proc") if e.isdigit() and _parent(int(e)) == postmaster]
    return [postmaster, *children]


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # a short-lived backend may have exited meanwhile
        os.kill(pid, signum)


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # gone meanwhile
    return int(stat.rpartition(")")[2].split()[1])


def test_a_frozen_postgres_server_does_not_stall_the_probes(
    live: Live, backend: str, database_url: str
) -> None:
    if backend != "postgres":
        pytest.skip("freezes a PostgreSQL server")
    kept = _create(live, "acknowledged")
    processes = _postgres_processes(database_url)
    try:
        for pid in processes:
            _signal(pid, signal.SIGSTOP)
        pool, waiting = _in_background(lambda: live.timed(f"{MODELS}/{kept}"))
        with pool:
            for _ in range(5):
                took, status, _ = live.timed("/healthz")
                assert status == 200 and took < QUICK_S, f"/healthz took {took:.3f} s"
            took, status, body = waiting.result(timeout=60)
        # The read cannot be answered, but it is refused at its deadline instead of hanging.
        assert status == 503 and body["code"] == "Service Unavailable", body
        assert took < DEADLINE_S + 3
        took, status, body = live.timed("/readyz")
        assert status == 503 and took < DEADLINE_S + 3, body
    finally:
        # Every one of them, whatever happened: a frozen server would fail every later test.
        for pid in processes:
            _signal(pid, signal.SIGCONT)
    deadline = time.monotonic() + 30
    while live.call(f"{MODELS}/{kept}")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live.call(f"{MODELS}/{kept}")[0] == 200
    _create(live, "after-the-thaw")
    assert {"acknowledged", "after-the-thaw"} <= _all_names(live)
