"""What went wrong with the database at start-up, in one line that says which problem and what to do.

`serve`, `db` and the other commands open the database the same way and fail the same ways: a data
directory that is read-only or cannot be created, a full disk, a database another process holds locked,
a PostgreSQL server that cannot be reached. `explain` turns the exception into that line, or returns None
for anything it does not recognise (a bug, which deserves its traceback).
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from modelshelf.errors import Unavailable
from modelshelf.store.migrate import LockTimeout

# SQLite's primary result codes (the low byte of an extended code).
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _FULL, _CANTOPEN = 3, 5, 6, 8, 10, 13, 14
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)

_DIR_VAR = "MODELSHELF_DATA_DIR to a writable directory"
_DATA_DIR_HINT = f"make it writable by this user or set {_DIR_VAR}"
_FULL_HINT = "free some space there or set MODELSHELF_DATA_DIR to a directory on another disk"
_LOCKED_HINT = "stop the process that holds it (or let it finish), then start again"
_PG_HINT = "start it, or correct MODELSHELF_DATABASE_URL"


def explain(exc: BaseException, database_url: str) -> str | None:
    """One line naming the problem with the database at `database_url` and what to do, or None."""
    if isinstance(exc, Unavailable) and exc.__cause__ is not None:
        exc = exc.__cause__  # the store's reads say "unavailable"; the driver's error says why
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        return _explain_sqlite(exc, Path(url.database))
    where = f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
    return _explain_postgres(exc, where)


def _explain_sqlite(exc: BaseException, path: Path) -> str | None:
    directory = path.parent
    if isinstance(exc, LockTimeout):
        return f"database {path} is locked by another process (waited {exc.waited:g} s): {_LOCKED_HINT}"
    if isinstance(exc, OSError):  # creating the data directory or the database file
        return _explain_os_error(exc, path)
    error = _driver_error(exc)
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return None
    code &= 0xFF
    if code in (_BUSY, _LOCKED):
        return f"database {path} is locked by another process: {_LOCKED_HINT}"
    if code == _FULL:
        return _full(directory)
    if code in (_PERM, _READONLY, _IOERR, _CANTOPEN):
        # SQLite says "unable to open", "readonly database" or "disk I/O error" for several causes; the
        # directory itself tells which (it must also hold the -wal and -shm files).
        found = _probe(directory)
        if found in _NO_SPACE:
            return _full(directory)
        if found in _DENIED:
            return f"data directory {directory} is read-only: {_DATA_DIR_HINT}"
        if found is None and path.exists() and not os.access(path, os.R_OK | os.W_OK):
            return f"database file {path} is read-only: make it readable and writable by this user"
    return f"database {path}: {_first_line(error)}: check the file and its directory"


def _explain_os_error(exc: OSError, path: Path) -> str:
    directory = path.parent
    if exc.errno in _NO_SPACE:
        return _full(directory)
    if not directory.is_dir():
        culprit = _deepest_existing(directory)
        if exc.errno in _DENIED:
            reason = f"{culprit} is read-only"
        elif not culprit.is_dir():
            reason = f"{culprit} is not a directory"
        else:
            reason = exc.strerror or type(exc).__name__
        return f"cannot create data directory {directory}: {reason}: create it by hand or set {_DIR_VAR}"
    if exc.errno in _DENIED and exc.filename == str(path) and path.exists():
        return f"database file {path} is not readable by this user: give this user access to it"
    if exc.errno in _DENIED:
        return f"data directory {directory} is read-only: {_DATA_DIR_HINT}"
    return f"database file {path}: {exc.strerror}: {_DATA_DIR_HINT}"


def _deepest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _full(directory: Path) -> str:
    return f"no space left on the disk of data directory {directory}: {_FULL_HINT}"


def _probe(directory: Path) -> int | None:
    """Whether a file can be written in `directory`: None if it can, else the errno that stops it."""
    try:
        if os.statvfs(directory).f_bavail == 0:
            return errno.ENOSPC
    except OSError as exc:
        return exc.errno
    probe = directory / f".modelshelf-probe-{uuid.uuid4().hex}"
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return exc.errno
    os.close(descriptor)
    probe.unlink()
    return None


def _explain_postgres(exc: BaseException, where: str) -> str | None:
    if isinstance(exc, LockTimeout):
        holder = "" if exc.holder is None else f" (server process {exc.holder})"
        return (
            f"another process has held the migration lock of {where}{holder} for more than {exc.waited:g} s: "
            "wait for its upgrade to finish, or end that session, then start again"
        )
    error = _driver_error(exc)
    if error is None or not type(error).__module__.startswith("psycopg"):
        return None
    state = getattr(error, "sqlstate", None)
    reason = _first_line(error)
    if state is None:  # no answer from a server: refused, unknown host, timed out
        return f"cannot connect to {where}: {reason}: {_PG_HINT}"
    if state == "53100":
        return f"{where} has no space left on its disk: {reason}: free some space on the database server"
    if state == "25006":
        return f"{where} is read-only (a standby?): {reason}: point MODELSHELF_DATABASE_URL at the primary"
    return f"{where}: {reason} (SQLSTATE {state})"


def _driver_error(exc: BaseException) -> BaseException | None:
    """The database driver's own exception: wrapped by SQLAlchemy, or raised by the driver directly."""
    if isinstance(exc, DBAPIError):
        return exc.orig
    if type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg"):
        return exc
    return None


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
