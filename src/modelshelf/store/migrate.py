"""Schema migrations through Alembic: the only way tables come to exist.

Any number of replicas may start at once on one empty database, so an upgrade runs under a lock that
every other upgrade waits for: an exclusive transaction on SQLite, a transaction-level advisory lock on
PostgreSQL. Alembic reads the schema's revision only once the lock is held, so the processes that waited
find the schema current and do nothing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from modelshelf.store.engine import EXCLUSIVE_WAIT_MS, database_file

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_TIMEOUT_S = 60.0
# The advisory lock's key: any fixed number, the same in every release ("modelshf" as a big-endian int).
LOCK_KEY = int.from_bytes(b"modelshf", "big")
_SQLITE_BUSY = 5


class LockTimeout(Exception):
    """Another process held the migration lock (or SQLite's write lock) past the deadline."""

    def __init__(self, waited: float, holder: int | None = None) -> None:
        self.waited = waited
        self.holder = holder  # the PostgreSQL backend pid that holds the lock, when known
        super().__init__(f"the migration lock was still taken after {waited:g} s")


def config(engine: Engine, lock_timeout: float = LOCK_TIMEOUT_S) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    config.attributes["lock_timeout"] = lock_timeout
    return config


def upgrade(engine: Engine, revision: str = "head", *, lock_timeout: float = LOCK_TIMEOUT_S) -> None:
    """Bring the schema to `revision`, waiting up to `lock_timeout` seconds for another migrating process."""
    command.upgrade(config(engine, lock_timeout), revision)


@contextmanager
def locked(engine: Engine, timeout: float) -> Iterator[Connection]:
    """A transaction that holds the migration lock, committed when the block ends (migrations/env.py)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.execution_options(**{EXCLUSIVE_WAIT_MS: max(0, int(timeout * 1000))})
            try:
                transaction = conn.begin()
            except OperationalError as exc:
                if getattr(exc.orig, "sqlite_errorcode", None) == _SQLITE_BUSY:
                    raise LockTimeout(timeout) from exc
                raise
            with transaction:
                yield conn
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            _advisory_lock(conn, timeout)
        yield conn


def _advisory_lock(conn: Connection, timeout: float) -> None:
    # Transaction-level, so it goes with the commit or rollback on every path and never stays on a pooled
    # connection. A try-lock in a loop rather than a blocking wait: the deadline is ours, not the
    # connection's statement_timeout.
    deadline = time.monotonic() + timeout
    pause = 0.02
    while not conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}).scalar():
        if time.monotonic() >= deadline:
            raise LockTimeout(timeout, _advisory_holder(conn))
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _advisory_holder(conn: Connection) -> int | None:
    # pg_locks splits a bigint key into classid (high 32 bits) and objid (low 32 bits), objsubid 1.
    query = text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = :high AND objid = :low AND objsubid = 1"
    )
    pid = conn.execute(query, {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFFFFFF}).scalar()
    return None if pid is None else int(pid)


@functools.cache
def head_revision() -> str | None:
    """This code's newest revision. Read once: parsing the migration scripts costs 1.2 ms, and readiness
    probes ask for it every few seconds."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def is_ahead(revision: str | None) -> bool:
    """`revision` is a later release's: one this code does not have, numbered after its head.

    Revisions are numbered in order (0001, 0002, …), so a number this code lacks past its head can only
    come from a newer release, while any other revision it lacks is no modelshelf schema it can judge.
    """
    head = head_revision()
    if revision is None or head is None or not (revision.isdigit() and head.isdigit()):
        return False
    return int(revision) > int(head)


def newer_schema(revision: str | None) -> str:
    """What a command says on a schema from a later release (is_ahead)."""
    return f"database at revision {revision}, from a newer release than this one ({head_revision()})"


def can_serve(engine: Engine) -> bool:
    """The schema is this code's, or a later release's.

    A later release's: during a rolling upgrade (docs/deployment.md) the replicas of the previous release
    keep serving once the new release migrated, which is safe because every migration keeps the schema
    usable by the release before it: it adds tables, nullable columns or columns with a server default,
    and indexes, and never drops or renames what that release reads or writes
    (tests/integration/test_migrations.py holds every migration to this).
    """
    current = current_revision(engine)
    return current == head_revision() or is_ahead(current)


def readiness(engine: Engine) -> str | None:
    """Why the database cannot serve requests (its file is gone, unreachable, schema behind the code), or
    None when it can (a schema a later release migrated included: see can_serve)."""
    opened = database_file(engine)
    if opened is not None and (replaced := opened.problem()) is not None:
        # Checked first, and without connecting: a new connection would create an empty file at the path.
        return replaced
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        servable = can_serve(engine)
    except Exception as exc:  # the probe must answer, whatever the database does
        return f"unreachable: {exc.__class__.__name__}"
    return None if servable else "migrations are not current"
