"""Work that one process at a time may do among replicas on one PostgreSQL database (a repository's Git
job, the periodic sweep): a session-level advisory lock, held on a connection of its own for as long as
the work runs.

The connection is not from the engine's pool: a job may hold it for minutes, and closing it releases the
lock whatever happened on it (a lock can never stay behind on a pooled connection). The server probes it
with TCP keepalives, so a replica whose host vanishes loses its locks within about a minute.

SQLite expects one process: every lease is granted at once and nothing is locked.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from types import TracebackType

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from modelshelf.errors import Unavailable
from modelshelf.store.engine import connect

log = logging.getLogger("modelshelf.leases")

# The server notices a dead client after idle + interval * count seconds and ends its session.
KEEPALIVE = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"


def lock_key(name: str) -> int:
    """The advisory lock's bigint key for `name`, the same in every process and release."""
    digest = hashlib.sha256(b"modelshelf-lease:" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leases:
    def __init__(self, engine: Engine, statement_timeout: float = 30.0) -> None:
        self.shared = engine.dialect.name == "postgresql"  # several processes may use the database
        self._engine: Engine | None = None
        if self.shared:
            url = engine.url.render_as_string(hide_password=False)
            ms = max(1, int(statement_timeout * 1000))
            options = f"-c statement_timeout={ms} {KEEPALIVE}"
            args = {"connect_timeout": 5, "options": options}
            self._engine = connect(url, poolclass=NullPool, connect_args=args)

    def lease(self, name: str) -> Lease:
        return Lease(self._engine, name)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


class Lease:
    """The lock on `name`, taken with `take()` (never waiting) and given up by `release()`. Use it in a
    `with` block: it is released when the block ends."""

    def __init__(self, engine: Engine | None, name: str) -> None:
        self.name = name
        self.key = lock_key(name)
        self._engine = engine
        self._connection: Connection | None = None
        self.held = False

    def take(self) -> bool:
        """Take the lock if nobody holds it; True if this lease holds it now, False if another session
        does. The database's failures are raised (as Unavailable): nobody can say who holds it."""
        if self._engine is None:
            self.held = True
            return True
        if self.held:
            return True
        try:
            if self._connection is None:
                self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            query = text("SELECT pg_try_advisory_lock(:key)")
            self.held = bool(self._connection.execute(query, {"key": self.key}).scalar())
        except DBAPIError as exc:
            self.release()
            raise Unavailable(f"could not take the lock on {self.name}: {exc.__class__.__name__}") from exc
        return self.held

    def keep(self) -> bool:
        """Whether the lock is still ours (its connection still answers); take it if it is not held."""
        if self._engine is None:
            return True
        if self.held and self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                return True
            except DBAPIError:
                log.warning("lost the connection that held the lock on %s", self.name)
                self.release()
        return self.take()

    def release(self) -> None:
        """Give the lock up: closing its connection ends the session, and with it every lock it held."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(DBAPIError):  # already gone, and its locks with it
                connection.close()
        self.held = False

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
