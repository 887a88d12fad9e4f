"""An online backup of a SQLite database into a new file, safe while servers are writing to it.

SQLite's backup API copies the database page by page. Between two steps it would restart from the first
page whenever another process has committed, so under a steady stream of writes it may never finish (a
2 ms write loop kept an 11 MB copy in 64-page steps restarting for 20 s and more). The copy therefore runs
inside one read transaction on the source: every step sees the same snapshot, and in WAL mode a reader
blocks no writer (the WAL only grows by what is written meanwhile, until the next checkpoint after it).

The copy is written under a temporary name in the target's directory, synced, then given its final name,
so a file with that name is always a complete backup.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import uuid
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from modelshelf.store.engine import database_file

STEP_PAGES = 1024  # pages copied per step (4 MiB with SQLite's default page size)


class BackupError(Exception):
    """A backup that cannot be written where it was asked to: the message is one line for the operator."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int  # bytes
    revision: str | None  # the schema revision inside the backup (None: no schema yet)


def backup(engine: Engine, target: Path, *, force: bool = False) -> Backup:
    """Copy the SQLite database of `engine` into the new file `target` (0600). An existing `target` is an
    error unless `force`; the database's own files never are a valid target."""
    source = database_file(engine)
    if source is None:
        raise BackupError("only a SQLite database file can be backed up this way")
    target = target.absolute()
    _check_target(target, source.path, force=force)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise BackupError(f"cannot write the backup {target}: {_reason(exc)}") from None
    os.close(descriptor)
    try:
        revision = _copy(engine, temporary, target)
        _sync(temporary)
        _publish(temporary, target, force=force)
    except BaseException:
        for leftover in (temporary, temporary.with_name(temporary.name + "-journal")):
            with suppress(FileNotFoundError):
                leftover.unlink()
        raise
    _sync(target.parent)
    return Backup(target, target.stat().st_size, revision)


def _check_target(target: Path, database: Path, *, force: bool) -> None:
    own = {database.resolve(), *(database.with_name(database.name + s).resolve() for s in ("-wal", "-shm"))}
    if target.resolve() in own:
        raise BackupError(f"{target} is the database itself: give the backup another path")
    if target.is_dir():
        raise BackupError(f"{target} is a directory: give the path of the backup file to create")
    if not target.parent.is_dir():
        raise BackupError(f"cannot write the backup {target}: directory {target.parent} does not exist")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists: give another path, or --force to replace it")


def _copy(engine: Engine, temporary: Path, target: Path) -> str | None:
    """Copy the database into `temporary` (to become `target`); the schema revision read from the copy."""
    raw = engine.raw_connection()
    try:
        source: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
        # The store's connections leave transactions to SQLAlchemy (store.engine): this one is opened
        # by hand, and the SELECT makes it take its snapshot now.
        source.execute("BEGIN")
        try:
            source.execute("SELECT count(*) FROM sqlite_master").fetchall()
            try:
                with closing(sqlite3.connect(temporary, isolation_level=None)) as copy:
                    source.backup(copy, pages=STEP_PAGES)
                    # One self-contained file, with no -wal or -shm beside it: servers that open it
                    # switch it back to WAL.
                    copy.execute("PRAGMA journal_mode=DELETE")
                    return _revision(copy)
            except sqlite3.Error as exc:
                raise BackupError(f"cannot write the backup {target}: {exc}") from None
        finally:
            source.execute("ROLLBACK")
    finally:
        raw.close()


def _revision(copy: sqlite3.Connection) -> str | None:
    if not copy.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchall():
        return None
    row = copy.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _publish(temporary: Path, target: Path, *, force: bool) -> None:
    """Give the backup its final name: replacing `target` with `force`, else never (a file that appeared
    there meanwhile is not overwritten: a hard link to an existing name fails)."""
    if force:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise BackupError(f"{target} already exists: give another path, or --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise BackupError(f"cannot write the backup {target}: {_reason(exc)}") from None
        # A file system without hard links: checked once more, then renamed.
        if target.exists():
            raise BackupError(
                f"{target} already exists: give another path, or --force to replace it"
            ) from None
        os.replace(temporary, target)
        return
    temporary.unlink()


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
