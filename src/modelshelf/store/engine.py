"""Database engines: SQLite (embedded default) and PostgreSQL (psycopg 3), tuned once here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def connect(url: str, **kwargs: Any) -> Engine:
    """Open an engine for `url`. SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling is off (see _sqlite_pragmas), so SQLAlchemy's "begin" issues
        # the BEGIN (its documented recipe). A write transaction takes the write lock at once: a deferred one
        # that reads first cannot upgrade its lock once another process has committed, and busy_timeout
        # does not help with that (SQLITE_BUSY_SNAPSHOT).
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        url = str(parsed.set(drivername="postgresql+psycopg"))
    # No pool_pre_ping: it costs a round trip per request. A dropped connection fails a request with a 503
    # and is invalidated, so a later request reconnects. Timeouts keep an unreachable server or a runaway
    # query from holding the (single-threaded) server up.
    kwargs.setdefault("connect_args", {"connect_timeout": 5, "options": "-c statement_timeout=30000"})
    return create_engine(url, **kwargs)


WRITE = "modelshelf_write"  # execution option of connections that will write
NOWAIT = "modelshelf_nowait"  # ...and that would rather fail at once than wait for another writer
BUSY_TIMEOUT_MS = 5000


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    # The busy timeout belongs to the connection: a no-wait write sets it to 0, and the next transaction
    # on that connection that may wait sets it back (only then, to spare the statement on every BEGIN).
    timeout = 0 if options.get(NOWAIT) else BUSY_TIMEOUT_MS
    info = conn.connection.info
    if info.get("busy_timeout", BUSY_TIMEOUT_MS) != timeout:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={timeout}")
        info["busy_timeout"] = timeout
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE) else "BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver; SQLAlchemy issues BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
