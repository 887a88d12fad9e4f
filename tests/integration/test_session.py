"""The unit of work: pooled connections, transactions, and several processes writing one SQLite file."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, literal_column, select, text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from modelshelf.app import create_app
from modelshelf.domain.entities import REGISTERED_MODEL
from modelshelf.errors import NotFound, Unavailable
from modelshelf.services import models, records
from modelshelf.settings import Settings, load_settings
from modelshelf.store import repository
from modelshelf.store.engine import connect
from modelshelf.store.session import Database, Session
from tests.integration.kf import V1


def test_reads_return_their_connection_and_domain_errors_keep_it(engine: Engine) -> None:
    database = Database(engine)
    with database.write() as session:
        created = models.create_registered_model(session, {"name": "m"})
    seen = []
    for _ in range(3):
        with database.read() as session:
            assert records.must_get(session, REGISTERED_MODEL, created["id"])["name"] == "m"
            seen.append(session.sql.connection.dbapi_connection)
    with pytest.raises(NotFound), database.read() as session:
        records.must_get(session, REGISTERED_MODEL, 999)
    with database.read() as session:
        records.must_get(session, REGISTERED_MODEL, created["id"])
        seen.append(session.sql.connection.dbapi_connection)
    assert len({id(c) for c in seen}) == 1  # one pooled connection serves them all; a 404 does not cost it
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    database.dispose()


def test_an_error_returns_the_connection_and_no_autocommit_reaches_the_pool(engine: Engine) -> None:
    database = Database(engine)
    with pytest.raises(RuntimeError), database.read() as session:
        session.sql.exec_driver_sql("SELECT 1")
        raise RuntimeError("boom")
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with database.read() as session:
        assert session.sql.exec_driver_sql("SELECT 1").scalar() == 1
    database.dispose()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:  # a pooled connection, as SQLAlchemy hands them out
            assert conn.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]


def test_a_failed_write_leaves_nothing_and_releases_its_connection(engine: Engine) -> None:
    database = Database(engine)
    with pytest.raises(RuntimeError), database.write() as session:
        models.create_registered_model(session, {"name": "half"})
        raise RuntimeError("fails after the insert")
    with database.read() as session:
        assert session.sql.execute(text("SELECT count(*) FROM registered_model")).scalar_one() == 0
    database.dispose()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


WRITER = textwrap.dedent(
    """
    import sys
    from modelshelf.services import models, records
    from modelshelf.domain.entities import REGISTERED_MODEL
    from modelshelf.store.engine import connect
    from modelshelf.store.session import Database, Session

    database = Database(connect(sys.argv[1]))
    tag, model_id = sys.argv[2], int(sys.argv[3])
    for i in range(60):
        with database.write() as session:  # read, then write: the pattern that needs BEGIN IMMEDIATE
            records.update(session, REGISTERED_MODEL, model_id, {"description": f"{tag}-{i}"})
            models.create_model_version(session, {"name": f"{tag}-{i}", "registered_model_id": model_id})
    database.dispose()
    """
)


def test_several_processes_writing_one_sqlite_file_lose_nothing(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """SQLite's file locking is the concern here, so this test owns a SQLite file whatever the backend."""
    path = tmp_path / "contended.db"
    shutil.copyfile(sqlite_template, path)
    database_url = f"sqlite:///{path}"
    engine_database = Database(connect(database_url))
    with engine_database.write() as session:
        model_id = models.create_registered_model(session, {"name": "contended"})["id"]
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writers = [
        subprocess.Popen(
            [sys.executable, str(script), database_url, f"w{n}", str(model_id)], stderr=subprocess.PIPE
        )
        for n in range(3)
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr.decode()
    with engine_database.read() as session:
        versions = session.sql.execute(text("SELECT count(*) FROM model_version")).scalar_one()
    assert versions == 3 * 60
    engine_database.dispose()


def _end_other_sessions(database_url: str) -> int:
    """What a database restart does to our connections: the server ends every session but this one."""
    other = connect(database_url)
    try:
        with other.begin() as conn:
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        return int(ended)
    finally:
        other.dispose()


def test_connections_the_server_dropped_are_replaced_without_failing_a_read(
    engine: Engine, database_url: str, settings: Settings, admin_token: str
) -> None:
    """After the server dropped the pooled connections (a restart, an operator ending sessions), the read
    that finds out runs once more on a fresh connection, and SQLAlchemy discards the other stale ones."""
    if engine.dialect.name != "postgresql":
        pytest.skip("an SQLite file has no server to drop connections")
    app = create_app(settings, engine)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_token}"}) as client:
        created = client.post(f"{V1}/registered_models", json={"name": "survivor"})
        assert created.status_code == 201
        url = f"{V1}/registered_models/{created.json()['id']}"
        database: Database = app.state.database
        # Several idle pooled connections, as concurrent requests leave them.
        sessions = [database.read() for _ in range(3)]
        for session in sessions:
            session.sql.exec_driver_sql("SELECT 1")
        for session in sessions:
            session.__exit__(None, None, None)
        assert _end_other_sessions(database_url) >= 3
        for _ in range(5):
            response = client.get(url)
            assert response.status_code == 200, response.text
            assert response.json()["name"] == "survivor"
        by_name = client.get(f"{V1}/registered_model", params={"name": "survivor"})
        assert by_name.status_code == 200, by_name.text


def test_a_failure_on_a_live_connection_is_not_retried(engine: Engine) -> None:
    """Only a connection the server dropped is worth another try; any other failure is answered at once."""
    database = Database(engine)
    if engine.dialect.name == "postgresql":
        failing = (lambda: select(func.pg_sleep(1)), "SET statement_timeout = 20")  # cancelled
    else:
        failing = (lambda: select(literal_column("no_such_column")), "SELECT 1")
    build, prepare = failing
    calls = []

    def work(session: Session) -> object:
        calls.append(1)
        session.sql.exec_driver_sql(prepare)
        return repository._fetch(session, ("failing", engine.dialect.name), build, {})

    try:
        with pytest.raises((Unavailable, DBAPIError)):
            database.run(work, write=False)
        assert len(calls) == 1
    finally:
        database.dispose()


@pytest.mark.parametrize(("variable", "expected"), [(None, 2), ("full", 2), ("normal", 1), ("NORMAL", 1)])
def test_every_sqlite_connection_syncs_as_configured(
    sqlite_template: Path, tmp_path: Path, variable: str | None, expected: int
) -> None:
    """synchronous=FULL (2) by default, NORMAL (1) when asked: on the write and read connections and on
    the event loop's own, all three open at once so that none is another's pooled connection."""
    shutil.copyfile(sqlite_template, tmp_path / "modelshelf.db")
    environ = {"MODELSHELF_DATA_DIR": str(tmp_path)}
    if variable is not None:
        environ["MODELSHELF_SQLITE_SYNCHRONOUS"] = variable
    app = create_app(load_settings(environ))
    database: Database = app.state.database

    def pragmas(session: Session) -> tuple[int, str, int, int]:
        sql = session.sql
        found = [sql.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("synchronous", "journal_mode")]
        busy = sql.exec_driver_sql("PRAGMA busy_timeout").scalar()
        return (*found, busy, id(sql.connection.dbapi_connection))  # type: ignore[return-value]

    try:
        with database.write() as writing, database.read() as reading:
            seen = [pragmas(writing), pragmas(reading), asyncio.run(database.looking_up(pragmas))]
    finally:
        database.dispose()
    assert [found[:2] for found in seen] == [(expected, "wal")] * 3
    assert seen[2][2] == 0  # the loop's connection (it never waits for a lock), not a pooled one
    assert len({found[3] for found in seen}) == 3


def test_postgres_plans_every_statement_for_its_own_values(engine: Engine) -> None:
    """psycopg prepares a statement run five times, and PostgreSQL would then keep one generic plan for
    any values; a filter's best plan depends on its values (a common property value made a filtered page
    100 times slower at 300,000 versions), so every connection plans for the values it is given."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    database = Database(engine)
    for session in (database.read(), database.write()):
        with session as conn:
            assert conn.sql.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"


def test_busy_workers_reuse_their_connections(database_url: str, tmp_path: Path) -> None:
    """Every worker thread (and Git job thread) keeps a pooled connection: with SQLAlchemy's default pool
    of 5 and 8 workers, three connections were closed on return and opened again for the next call, and
    a server on PostgreSQL served 336 reads/s instead of 570 (benchmarks/replicas.py)."""
    from modelshelf.app import open_engine
    from modelshelf.services.gitsync import JOB_THREADS

    settings = Settings(data_dir=tmp_path, database_url=database_url, worker_threads=8)
    engine = open_engine(settings)
    database = Database(engine, threads=settings.worker_threads)
    opened: list[object] = []
    closed: list[object] = []
    event.listen(engine, "connect", lambda dbapi, _record: opened.append(dbapi))
    event.listen(engine.pool, "close", lambda dbapi, _record: closed.append(dbapi))

    async def reads(rounds: int) -> None:
        async def one() -> None:
            for _ in range(rounds):
                await database.reading(lambda s: s.sql.execute(text("SELECT 1")).scalar_one())

        await asyncio.gather(*(one() for _ in range(2 * settings.worker_threads)))

    try:
        # A worker thread opens its connection the first time it runs, which may be late in the run: what
        # must not happen is a connection closed on its return (and so opened again for the next call).
        asyncio.run(reads(50))
        assert closed == [], f"{len(closed)} connections closed while busy"
        assert len(opened) <= settings.worker_threads
        assert engine.pool.size() == settings.worker_threads + JOB_THREADS  # type: ignore[attr-defined]
    finally:
        database.dispose()
