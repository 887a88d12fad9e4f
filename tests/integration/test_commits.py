"""The commit marker changes on every commit to an SQLite database, by anyone, and on nothing else.

Authentication keeps tokens in memory exactly as long as this marker stays put, so a commit it missed
would let a revoked token through. The commits here come from other connections and other processes, as
the CLI's or a second server's would.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from modelshelf.errors import Unavailable
from modelshelf.store.commits import CommitWatch
from modelshelf.store.engine import connect
from modelshelf.store.session import Database


def _outside(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        for statement in statements:
            connection.execute(statement)


@pytest.fixture
def wal_database(tmp_path: Path) -> Iterator[tuple[Path, Database]]:
    path = tmp_path / "wal.db"
    database = Database(connect(f"sqlite:///{path}"))
    with database.write() as conn:
        conn.sql.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield path, database
    database.dispose()


def test_a_wal_database_is_watched_through_its_wal_index(wal_database: tuple[Path, Database]) -> None:
    _, database = wal_database
    watch = CommitWatch(database.engine)
    try:
        assert watch.reads_wal_index()
    finally:
        watch.close()


def test_reads_leave_the_marker_alone(wal_database: tuple[Path, Database]) -> None:
    path, database = wal_database
    marker = database.commit_marker()
    _outside(path, "SELECT count(*) FROM t")
    with database.read() as conn:
        conn.sql.execute(text("SELECT * FROM t")).all()
    assert database.commit_marker() == marker


def test_every_commit_moves_the_marker(wal_database: tuple[Path, Database]) -> None:
    path, database = wal_database
    seen = [database.commit_marker()]
    for i in range(5):
        _outside(path, f"INSERT INTO t (v) VALUES ('outside {i}')")
        seen.append(database.commit_marker())
        with database.write() as conn:
            conn.sql.execute(text("INSERT INTO t (v) VALUES ('inside')"))
        seen.append(database.commit_marker())
    assert all(before != after for before, after in itertools.pairwise(seen))


def test_a_commit_after_a_checkpoint_moves_the_marker(wal_database: tuple[Path, Database]) -> None:
    """A checkpoint that truncates the WAL makes the next writer start it over from frame 1: the header
    must still differ from every value seen before."""
    path, database = wal_database
    _outside(path, "INSERT INTO t (v) VALUES ('a')")
    seen = {database.commit_marker()}
    for i in range(3):
        _outside(path, "PRAGMA wal_checkpoint(TRUNCATE)")
        _outside(path, f"UPDATE t SET v = 'b{i}'")
        marker = database.commit_marker()
        assert marker not in seen
        seen.add(marker)


def test_a_commit_by_another_process_moves_the_marker(wal_database: tuple[Path, Database]) -> None:
    path, database = wal_database
    marker = database.commit_marker()
    script = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute(\"INSERT INTO t (v) VALUES ('from another process')\"); c.close()"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=30)
    assert database.commit_marker() != marker


def test_without_a_wal_index_the_marker_is_sqlites_data_version(tmp_path: Path) -> None:
    """A database in a rollback-journal mode has no -shm file: the watch asks SQLite instead."""
    path = tmp_path / "journal.db"
    _outside(path, "PRAGMA journal_mode=DELETE", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    engine = create_engine(f"sqlite:///{path}")
    watch = CommitWatch(engine)
    try:
        assert not watch.reads_wal_index()
        marker = watch.marker()
        assert watch.marker() == marker
        _outside(path, "INSERT INTO t (v) VALUES ('x')")
        assert watch.marker() != marker
    finally:
        watch.close()
        engine.dispose()


def test_a_database_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'm.db'}")
    watch = CommitWatch(engine)
    try:
        with pytest.raises(Unavailable):
            watch.marker()
    finally:
        watch.close()
        engine.dispose()


def test_a_reopened_watch_never_repeats_an_earlier_marker(wal_database: tuple[Path, Database]) -> None:
    """A fresh -shm header or a fresh data_version count may repeat an old value: markers of a new
    connection must still differ from every one before, or kept tokens would outlive a missed commit."""
    _, database = wal_database
    watch = CommitWatch(database.engine)
    try:
        before = watch.marker()
        watch.close()
        after = watch.marker()
        assert after != before
        assert watch.marker() == after
    finally:
        watch.close()


def test_closing_a_watch_leaves_sqlites_locks_alone(wal_database: tuple[Path, Database]) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it. A reader of this
    process holds a read mark in the -shm file: with it, another process's checkpoint cannot truncate the
    WAL under the reader; it must still be held after a second watch of the same file was closed."""
    path, database = wal_database
    with database.write() as conn:
        conn.sql.execute(text("INSERT INTO t (v) VALUES ('before the reader')"))
    with closing(sqlite3.connect(path, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)
        _outside(path, "INSERT INTO t (v) VALUES ('after the reader began')")
        second = CommitWatch(database.engine)
        second.marker()
        second.close()
        script = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0); "
            "print(c.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchone()[0]); c.close()"
        )
        busy = subprocess.run(
            [sys.executable, "-c", script, str(path)], check=True, timeout=30, capture_output=True, text=True
        ).stdout.strip()
        assert busy == "1", "the checkpoint ran as if nobody were reading: our read mark was dropped"
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)  # still its snapshot
        reader.execute("COMMIT")


def test_a_watch_nobody_else_uses_closes_its_descriptor(tmp_path: Path) -> None:
    database = Database(connect(f"sqlite:///{tmp_path / 'alone.db'}"))
    database.commit_marker()
    assert database._commits is not None
    descriptor = database._commits._shm
    assert descriptor is not None
    database.dispose()
    with pytest.raises(OSError):
        os.fstat(descriptor)


def test_a_commit_while_the_watch_was_closed_is_not_missed(tmp_path: Path) -> None:
    """PRAGMA data_version counts from the same start on every new connection: without a generation, the
    marker after a reconnect would equal the one before, though another process committed meanwhile."""
    path = tmp_path / "journal.db"
    _outside(path, "PRAGMA journal_mode=DELETE", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    engine = create_engine(f"sqlite:///{path}")
    watch = CommitWatch(engine)
    try:
        before = watch.marker()
        watch.close()
        _outside(path, "INSERT INTO t (v) VALUES ('while nobody watched')")
        assert watch.marker() != before
    finally:
        watch.close()
        engine.dispose()
