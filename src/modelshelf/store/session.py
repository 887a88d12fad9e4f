"""A request's access to the database: one unit of work, committed (or rolled back) at the edge.

A session offers two ways in. `sql` is a SQLAlchemy Connection, for statements composed per request
(filters, pages, writes). `cursor()` is the driver connection itself, for the few statements of a fixed
shape that run on nearly every request (get by id, find by name), compiled once (repository._fetch).

A read session takes its driver connection from a small cache of autocommit connections, so a request
that only does such lookups costs neither a pool checkout nor a BEGIN/ROLLBACK pair; it opens a
SQLAlchemy Connection only if it needs one. A write session is a SQLAlchemy transaction, and its driver
connection is that transaction's, so both ways in see the same uncommitted rows.
"""

from __future__ import annotations

from collections.abc import Hashable
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.pool import PoolProxiedConnection

from modelshelf.errors import RegistryError, Unavailable
from modelshelf.store.commits import CommitWatch
from modelshelf.store.engine import NOWAIT, WRITE


class Session:
    __slots__ = ("_database", "_driver", "_replaced", "_sql", "_transaction", "_wait")

    def __init__(self, database: Database, *, write: bool, wait: bool = True) -> None:
        self._database = database
        self._sql: Connection | None = None
        self._driver: PoolProxiedConnection | None = None
        self._transaction = write
        self._wait = wait
        self._replaced = False

    @property
    def dialect(self) -> Dialect:
        return self._database.engine.dialect

    @property
    def sql(self) -> Connection:
        if self._sql is None:
            self._sql = self._database.engine.connect()
            if self._transaction:
                self._sql.execution_options(**{WRITE: True, NOWAIT: not self._wait})
                self._sql.begin()
        return self._sql

    def cursor(self) -> Any:
        if self._transaction:
            return self.sql.connection.cursor()
        if self._driver is None:
            self._driver = self._database.take_reader()
        return self._driver.cursor()

    def replace_lost_reader(self) -> bool:
        """After a statement failed: if it ran on a cached reader whose connection the server dropped (it
        restarted, or an operator ended our sessions), put a fresh one in its place and say so, once per
        session. A read is safe to run again; a transaction is not, and is never replaced."""
        if self._transaction or self._replaced or self._driver is None:
            return False
        if not self._database.lost(self._driver):
            return False
        self._database.give_back_reader(self._driver, broken=True)
        self._driver = None
        self._replaced = True
        return True

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._sql is not None:
                try:
                    if self._transaction and exc is None:
                        self._sql.commit()
                finally:
                    self._sql.close()  # rolls back whatever was not committed
        finally:
            if self._driver is not None:
                self._database.give_back_reader(self._driver, broken=_breaks_connection(exc))


def _breaks_connection(exc: BaseException | None) -> bool:
    """A domain error (a 404, a 409) leaves the connection as good as it was; anything else may not."""
    if exc is None:
        return False
    return not isinstance(exc, RegistryError) or isinstance(exc, Unavailable)


class Database:
    """The engine, plus the cache of driver connections that read sessions use."""

    def __init__(self, engine: Engine, max_idle_readers: int = 4) -> None:
        self.engine = engine
        self._idle: list[PoolProxiedConnection] = []
        self._max_idle = max_idle_readers
        self._commits: CommitWatch | None = None

    def read(self) -> Session:
        return Session(self, write=False)

    def write(self, *, wait: bool = True) -> Session:
        """A write transaction; with `wait=False`, one that fails at once if another writer holds SQLite's
        lock (for writes that may be skipped, such as a token's last-used time)."""
        return Session(self, write=True, wait=wait)

    def take_reader(self) -> PoolProxiedConnection:
        try:
            return self._idle.pop()
        except IndexError:
            connection = self.engine.raw_connection()
            if self.engine.dialect.name == "postgresql":
                # Single SELECTs need no transaction; without autocommit each would leave one open.
                connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            return connection

    def give_back_reader(self, connection: PoolProxiedConnection, *, broken: bool) -> None:
        if broken or len(self._idle) >= self._max_idle:
            lost = broken and self.lost(connection)
            # An error may have left it unusable, and the pool must never get an autocommit connection back.
            connection.invalidate()
            if lost:
                # The server dropped it, so it dropped the idle ones too: a restart, or an operator ending
                # sessions. Each would fail a request before being replaced; none of them is kept.
                while self._idle:
                    self._idle.pop().invalidate()
            return
        self._idle.append(connection)

    @staticmethod
    def lost(connection: PoolProxiedConnection) -> bool:
        """Whether the server side of this connection is gone (psycopg says so; an SQLite file cannot be)."""
        driver = connection.dbapi_connection  # None once invalidated
        return bool(getattr(driver, "broken", False) or getattr(driver, "closed", False))

    def commit_marker(self) -> Hashable:
        """SQLite only: a value that changes whenever anything was committed to the database since the
        last call, by any connection of any process (see store.commits)."""
        if self._commits is None:
            self._commits = CommitWatch(self.engine)
        return self._commits.marker()

    def dispose(self) -> None:
        while self._idle:
            self._idle.pop().invalidate()
        self.engine.dispose()
        if self._commits is not None:
            # Last: its descriptor can be closed only once no other connection of ours uses the file.
            self._commits.close()
            self._commits = None
