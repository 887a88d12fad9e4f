"""A request's access to the database: one unit of work on one pooled connection, committed (or rolled
back) at the edge, and run where it cannot stall the event loop.

`Database.reading(work)` and `Database.writing(work)` are what request handlers await: they run
`work(session)` on a worker thread of the database's `ThreadPool`, within the request's deadline
(modelshelf.blocking). `Database.read()` and `Database.write()` open a session in the calling thread,
for the CLI, migrations and tests, which have no event loop to protect.

Every statement goes through SQLAlchemy's Connection, checked out of the engine's pool: reads in
autocommit (no BEGIN/ROLLBACK pair around a single SELECT), writes in one transaction that takes SQLite's
write lock at once (store.engine). A session bounds its own waits with the deadline: SQLite's busy
timeout and a progress handler that interrupts a statement once the deadline has passed; on PostgreSQL
the server's statement timeout (set per connection in store.engine) does the same.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from modelshelf import blocking
from modelshelf.errors import DeadlineExceeded, Unavailable
from modelshelf.store.engine import NOWAIT, READ, WRITE, database_file

T = TypeVar("T")

# A SQLite statement checks its deadline every this many virtual-machine instructions (well under a
# millisecond of work), so an expensive query stops soon after its time is up.
PROGRESS_STEPS = 10_000
DISPOSE_WAIT_S = 5.0  # how long closing the database waits for calls still running
LOOKUP_BUDGET_S = 0.02  # what a lookup may take on the event loop before it moves to a worker thread
UNAVAILABLE = "the database is unavailable, try again later"


class Session:
    __slots__ = ("_borrowed", "_database", "_sql", "_wait", "_write")

    def __init__(
        self, database: Database, *, write: bool, wait: bool = True, borrowed: Connection | None = None
    ) -> None:
        self._database = database
        self._sql: Connection | None = borrowed
        self._borrowed = borrowed is not None  # the loop's own connection (Database.looking_up): kept
        self._write = write
        self._wait = wait

    @property
    def dialect(self) -> Dialect:
        return self._database.engine.dialect

    @property
    def sql(self) -> Connection:
        """The session's connection, checked out of the pool on first use."""
        if self._sql is None:
            self._sql = self._database.connect(write=self._write, wait=self._wait)
        return self._sql

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sql is None or self._borrowed:
            return
        try:
            if self._write and exc is None:
                if blocking.expired():
                    # The client may have been told the request failed: a commit now would store what
                    # it believes was refused.
                    raise DeadlineExceeded(blocking.LATE)
                self._sql.commit()
        finally:
            _disarm(self._sql)
            self._sql.close()  # rolls back whatever was not committed, and returns it to the pool


class Database:
    """The engine, and the pool of threads its statements run on when a request awaits them."""

    def __init__(self, engine: Engine, threads: int = 8) -> None:
        self.engine = engine
        self.threads = threads
        self._sqlite = engine.dialect.name == "sqlite"
        self._pool: blocking.ThreadPool | None = None
        self._reader = engine if self._sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        self._file = database_file(engine)
        self._driver_errors: Any = engine.dialect.loaded_dbapi
        self._looker: Connection | None = None  # SQLite: the event loop's own connection, for lookups
        self._lookup_stop = math.inf  # when the lookup running on it must stop

    # --- in the calling thread -------------------------------------------------------------------------

    def read(self) -> Session:
        return Session(self, write=False)

    def write(self, *, wait: bool = True) -> Session:
        """A write transaction; with `wait=False`, one that fails at once if another writer holds SQLite's
        lock (for writes that may be skipped, such as a token's last-used time)."""
        return Session(self, write=True, wait=wait)

    # --- from the event loop ---------------------------------------------------------------------------

    @property
    def pool(self) -> blocking.ThreadPool:
        if self._pool is None:
            self._pool = blocking.ThreadPool(self.threads, "modelshelf-db")
        return self._pool

    async def looking_up(self, work: Callable[[Session], T]) -> T:
        """`work`, a lookup through a unique index (a get by id, a find by name, a token): bounded work.

        On SQLite, a local file, it runs right here on the event loop, on a connection kept for the loop:
        it cannot wait for a lock (busy timeout 0; in WAL mode readers do not wait for writers anyway)
        and a progress handler stops it after LOOKUP_BUDGET_S. If either happens it runs again on a worker
        thread, within the request's deadline. A hop to a thread costs ~100 µs here, more than the
        lookup itself. On PostgreSQL every statement is a network round trip: it is `reading`.
        """
        if not self._sqlite:
            return await self.reading(work)
        connection = self._loop_connection()
        self._lookup_stop = time.monotonic() + LOOKUP_BUDGET_S
        try:
            with Session(self, write=False, borrowed=connection) as session:
                return work(session)
        except (OperationalError, self._driver_errors.OperationalError):
            pass  # locked, or over its budget: once more on a worker thread, below
        finally:
            self._lookup_stop = math.inf
        return await self.reading(work)

    def _loop_connection(self) -> Connection:
        if self._looker is None or self._looker.invalidated or self._looker.closed:
            connection = self.engine.connect()
            connection.execution_options(**{READ: True})
            connection.exec_driver_sql("PRAGMA busy_timeout = 0")
            connection.connection.info["busy_timeout"] = 0  # what store.engine compares with
            driver: Any = connection.connection.driver_connection
            driver.set_progress_handler(lambda: time.monotonic() > self._lookup_stop, PROGRESS_STEPS)
            self._looker = connection
        return self._looker

    async def reading(self, work: Callable[[Session], T]) -> T:
        """`work` in a read session on a worker thread, within the current deadline."""
        return await self.pool.run(lambda: self.run(work, write=False))

    async def writing(self, work: Callable[[Session], T]) -> T:
        """`work` in one write transaction on a worker thread, within the current deadline."""
        return await self.pool.run(lambda: self.run(work, write=True))

    def run(self, work: Callable[[Session], T], *, write: bool, wait: bool = True) -> T:
        """`work` in a session of its own, with the database's failures turned into domain errors. A read
        whose connection the server had dropped (a restart, an operator ending sessions) runs once more
        on a fresh one; a write never does, since it may have been committed."""
        for attempt in (1, 2):
            try:
                with Session(self, write=write, wait=wait) as session:
                    return work(session)
            except (DBAPIError, self._driver_errors.OperationalError, Unavailable) as exc:
                dropped = isinstance(exc, DBAPIError) and exc.connection_invalidated
                if dropped and not write and attempt == 1 and not blocking.expired():
                    continue
                domain = self._domain_error(exc)
                if domain is exc:
                    raise
                raise domain from exc
        raise AssertionError("unreachable")

    def _domain_error(self, exc: Exception) -> Exception:
        """What a database failure means to the request: its deadline passed, or the database is
        unavailable; any other error (a bug) stays what it is."""
        if isinstance(exc, DeadlineExceeded):
            return exc
        if blocking.expired():
            return DeadlineExceeded(blocking.LATE)
        if isinstance(exc, (OperationalError, self._driver_errors.OperationalError)):
            return Unavailable(UNAVAILABLE)
        return exc

    # --- connections -------------------------------------------------------------------------------------

    def connect(self, *, write: bool, wait: bool = True) -> Connection:
        if write:
            if self._file is not None and (problem := self._file.problem()) is not None:
                # Writing on would acknowledge rows that nobody will ever read back.
                raise Unavailable(f"{problem}: restart the server")
            connection = self.engine.connect()
            connection.execution_options(**{WRITE: True, NOWAIT: not wait})
        else:
            connection = self._reader.connect()
            if self._sqlite:
                connection.execution_options(**{READ: True})
        try:
            if self._sqlite:
                _arm(connection)
            if write:
                connection.begin()
        except BaseException:
            connection.close()
            raise
        return connection

    def dispose(self) -> None:
        if self._looker is not None:
            self._looker.invalidate()  # its busy timeout and progress handler are not for the pool
            self._looker = None
        if self._pool is not None:
            # Calls still running hold pooled connections: let them end (their deadlines bound them) and
            # give their connections back before the pool is closed.
            self._pool.shutdown(wait=DISPOSE_WAIT_S)
            self._pool = None
        self.engine.dispose()


def _arm(connection: Connection) -> None:
    """Make SQLite interrupt this connection's statements once the current deadline has passed."""
    deadline = blocking.deadline()
    if deadline is None:
        return
    driver: Any = connection.connection.driver_connection
    driver.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
    connection.info["armed"] = True


def _disarm(connection: Connection) -> None:
    if not connection.invalidated and connection.info.pop("armed", False):
        driver: Any = connection.connection.driver_connection
        driver.set_progress_handler(None, 0)
