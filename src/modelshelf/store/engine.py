"""Database engines: SQLite (embedded default) and PostgreSQL (psycopg 3), tuned once here."""

from __future__ import annotations

import functools
import math
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from modelshelf import blocking

SqliteSynchronous = Literal["full", "normal"]


def connect(
    url: str,
    *,
    statement_timeout: float = 30.0,
    sqlite_synchronous: SqliteSynchronous = "full",
    connections: int = 5,
    **kwargs: Any,
) -> Engine:
    """Open an engine for `url`. SQLite gets WAL, foreign keys, a busy timeout and `sqlite_synchronous`
    on every connection; PostgreSQL a server-side `statement_timeout` (seconds), the database's own bound
    on every statement.

    `connections` is how many the pool keeps open: as many as threads that use the database at once.
    With fewer, every connection beyond them was closed when returned and opened again for the next call:
    with SQLAlchemy's default of 5 and 8 worker threads, a server on PostgreSQL forked a new backend for
    a good share of its requests and served 336 reads/s instead of 570 (benchmarks/replicas.py).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if sqlite_synchronous not in ("full", "normal"):
            raise ValueError(f"sqlite_synchronous: expected 'full' or 'normal', got {sqlite_synchronous!r}")
        identity = None
        if parsed.database and parsed.database != ":memory:":
            identity = _create_private(Path(parsed.database))
            if "poolclass" not in kwargs:  # a file: a QueuePool (an in-memory database has one connection)
                kwargs.setdefault("pool_size", connections)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        if identity is not None:
            _files[engine] = identity
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, synchronous=sqlite_synchronous))
        # pysqlite's own transaction handling is off (see _sqlite_pragmas), so SQLAlchemy's "begin" issues
        # the BEGIN (its documented recipe). A write transaction takes the write lock at once: a deferred one
        # that reads first cannot upgrade its lock once another process has committed, and busy_timeout
        # does not help with that (SQLITE_BUSY_SNAPSHOT).
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        url = str(parsed.set(drivername="postgresql+psycopg"))
    # No pool_pre_ping: it costs a round trip per request. A dropped connection is invalidated with the rest
    # of the pool (SQLAlchemy does that on a disconnect error), and a read is retried once on a fresh one
    # (store.session). The timeouts bound what a worker thread can wait for: a connection, a statement (a
    # lock wait included), a transaction left idle.
    ms = max(1, int(statement_timeout * 1000))
    # JIT compilation pays off for long analytical queries, never for ours: it took 15 of the 15.2 s of a
    # filter that runs in 52 ms without it.
    # psycopg prepares a statement run five times, and PostgreSQL then plans it once for any parameters (a
    # generic plan). A filter's plan depends on its values: with a generic plan, a page filtered on a
    # common property value went from 1.4 ms to 180 ms at 300,000 versions. Plan for the values given.
    options = (
        f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms} -c jit=off "
        "-c plan_cache_mode=force_custom_plan"
    )
    kwargs.setdefault("connect_args", {"connect_timeout": 5, "options": options})
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_timeout", statement_timeout)
        kwargs.setdefault("pool_size", connections)
    return create_engine(url, **kwargs)


WRITE = "modelshelf_write"  # execution option of connections that will write
NOWAIT = "modelshelf_nowait"  # ...and that would rather fail at once than wait for another writer
READ = "modelshelf_read"  # SQLite connections that only read: each statement is its own transaction
# SQLite: BEGIN EXCLUSIVE, waiting up to this many milliseconds for other connections (schema changes).
EXCLUSIVE_WAIT_MS = "modelshelf_exclusive_wait_ms"
BUSY_TIMEOUT_MS = 5000  # without a deadline (the CLI)


@dataclass(frozen=True)
class DatabaseFile:
    """The SQLite file an engine opened, by identity: a server whose file was deleted or replaced keeps
    writing to the old inode, so every write it acknowledges from then on is lost."""

    path: Path
    device: int
    inode: int

    def problem(self) -> str | None:
        """Why the file at `path` is no longer the one this engine opened, or None while it is."""
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return f"database file {self.path} was deleted while the server had it open"
        except OSError as exc:
            return f"database file {self.path} cannot be checked: {exc.strerror}"
        if (now.st_dev, now.st_ino) != (self.device, self.inode):
            return f"database file {self.path} was replaced while the server had it open"
        return None

    def is_current(self) -> bool:
        return self.problem() is None


_files: weakref.WeakKeyDictionary[Engine, DatabaseFile] = weakref.WeakKeyDictionary()


def database_file(engine: Engine) -> DatabaseFile | None:
    """The SQLite file `engine` opened (None for PostgreSQL and in-memory databases)."""
    return _files.get(engine)


def _create_private(path: Path) -> DatabaseFile:
    """Create the data directory (0700) and the database file (0600) unless they exist, before SQLite
    opens it: SQLite would make it 0644, and gives its -wal and -shm files the mode of the database."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        found = os.fstat(descriptor)
    finally:
        os.close(descriptor)
    return DatabaseFile(path.absolute(), found.st_dev, found.st_ino)


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get(READ):
        return  # no BEGIN/ROLLBACK pair around reads; WAL gives each statement a consistent snapshot
    exclusive_wait = options.get(EXCLUSIVE_WAIT_MS)
    # The busy timeout belongs to the connection: a no-wait write sets it to 0, one with a deadline waits
    # for the lock until then at most, and the next transaction sets it again only if it differs.
    left = blocking.remaining()
    if exclusive_wait is not None:
        timeout = int(exclusive_wait)
    elif options.get(NOWAIT):
        timeout = 0
    elif left is None:
        timeout = BUSY_TIMEOUT_MS
    else:
        # Rounded up to a whole second, so that requests under the same deadline setting leave the
        # connection's timeout as it is (a PRAGMA cost a tenth of a create). The wait may end up to a
        # second late; a write past its deadline is rolled back anyway (store.session).
        timeout = math.ceil(left) * 1000 if left > 1 else max(1, int(left * 1000))
    info = conn.connection.info
    if info.get("busy_timeout", BUSY_TIMEOUT_MS) != timeout:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={timeout}")
        info["busy_timeout"] = timeout
    if exclusive_wait is not None:
        conn.exec_driver_sql("BEGIN EXCLUSIVE")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE) else "BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, synchronous: SqliteSynchronous) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver; SQLAlchemy issues BEGIN itself
    cursor = dbapi_connection.cursor()
    # The busy timeout first: switching a new file to WAL takes a lock that a replica starting at the
    # same moment may hold.
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # In WAL mode FULL syncs the WAL at every commit: a write that was acknowledged survives a power
    # loss. NORMAL syncs only at checkpoints, so the last commits before one may be lost (never the
    # file's consistency). `synchronous` is one of two literals, checked in connect().
    cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
    cursor.close()
