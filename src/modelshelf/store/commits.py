"""Noticing, cheaply and exactly, that something was committed to an SQLite database by anyone.

`CommitWatch.marker()` returns a value that differs from the one before whenever a transaction was
committed to the database since, by any connection of any process. It is asked on every authenticated
request, so it has to cost far less than a query; the two ways it answers are:

- **The wal-index header.** In WAL mode, a commit becomes visible to readers at the moment its writer
  rewrites the 48-byte header at the start of the `-shm` file (SQLite's documented wal-index format,
  https://www.sqlite.org/walformat.html; every process sharing a database relies on it). The header holds
  a counter bumped by every commit (`iChange`), the last valid frame and a checksum over the lot, so any
  commit changes it, and reading it is one `pread`, a few times cheaper than a statement. Reading it
  *before* looking anything up is what makes this exact: a commit whose header was not yet written
  was not yet visible to any reader either. A header read while a writer rewrites it may be torn; a torn
  value only differs from the last one, which at worst forgets what was kept once more.
- **`PRAGMA data_version`**, where there is no `-shm` file to read (an in-memory database, a journal
  mode other than WAL): the count of commits by other connections, asked on a connection that never
  writes. Exact as well, at the price of a read transaction.

The watch keeps its own SQLite connection open for as long as it reads the `-shm` file. That connection's
shared lock on the database file keeps any other process from deleting the `-shm` file (SQLite does so
only when the last connection to a database closes), and its lock on the `-shm` file keeps another
process from rebuilding it. A marker is only comparable with markers of the same connection: each new
one starts a new generation, whose markers differ from all before (a fresh -shm header, or a fresh
data_version count, may repeat an old value).

The descriptor is closed with care. POSIX record locks belong to the process, and closing *any*
descriptor of a file drops all of them, SQLite's own included (its read marks, the lock above). So it
is closed only when no other descriptor in this process refers to the file; otherwise it stays open
for the life of the process.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection

from modelshelf.errors import Unavailable

WAL_INDEX_HEADER_BYTES = 48  # the first copy of WalIndexHdr


class CommitWatch:
    """The commit marker of one SQLite database (see the module's docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: PoolProxiedConnection | None = None
        self._shm: int | None = None  # file descriptor of the -shm file, when there is one to read
        self._generation = object()  # replaced whenever the connection is

    def reads_wal_index(self) -> bool:
        self._open()
        return self._shm is not None

    def marker(self) -> Hashable:
        self._open()
        try:
            if self._shm is not None:
                value = os.pread(self._shm, WAL_INDEX_HEADER_BYTES, 0)
            else:
                value = self._driver().execute("PRAGMA data_version").fetchone()[0]
        except (OSError, self._engine.dialect.loaded_dbapi.Error) as exc:
            self.close()
            raise Unavailable("the database is unavailable, try again later") from exc
        return (self._generation, value)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()
            self._connection = None
        if self._shm is not None:
            _close_unless_shared(self._shm)
            self._shm = None

    def _open(self) -> None:
        if self._connection is not None:
            return
        try:
            self._connection = self._engine.raw_connection()
            self._generation = object()
            driver = self._driver()
            # The first statement opens the WAL and maps the -shm file, taking the locks that keep it in
            # place while this connection lives.
            driver.execute("PRAGMA data_version").fetchone()
            mode = driver.execute("PRAGMA journal_mode").fetchone()[0]
            path = next(row[2] for row in driver.execute("PRAGMA database_list") if row[1] == "main")
            if str(mode).lower() == "wal" and path and hasattr(os, "pread"):
                self._shm = _open_for_reading(f"{path}-shm")
        except (OSError, SQLAlchemyError, self._engine.dialect.loaded_dbapi.Error) as exc:
            self.close()
            raise Unavailable("the database is unavailable, try again later") from exc

    def _driver(self) -> Any:
        assert self._connection is not None
        return self._connection.dbapi_connection


def _open_for_reading(path: str) -> int | None:
    """A descriptor for the -shm file, or None where SQLite keeps the wal-index in its own memory instead
    (exclusive locking mode, a read-only directory): then there is no file to read."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


_KEPT_OPEN: list[int] = []  # descriptors whose closing would have dropped SQLite's locks


def _close_unless_shared(fd: int) -> None:
    if _shared_in_this_process(fd):
        _KEPT_OPEN.append(fd)
    else:
        os.close(fd)


def _shared_in_this_process(fd: int) -> bool:
    """Whether another descriptor of this process refers to the same file (SQLite's, for a connection that
    still lives); True when that cannot be told (no /proc)."""
    try:
        target = os.fstat(fd)
        others = [int(name) for name in os.listdir("/proc/self/fd") if int(name) != fd]
    except OSError:
        return True
    for other in others:
        try:
            found = os.stat(f"/proc/self/fd/{other}")
        except OSError:
            continue  # closed meanwhile, or the descriptor listdir itself used
        if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False
