"""`modelshelf db backup PATH`: an online copy of the SQLite database, taken while a server writes, that a
second server opens with everything acknowledged before the backup started; and its refusals.

Everything runs as real `modelshelf` processes. Root ignores permission bits, so the unwritable case
drops the two capabilities that let it (setpriv), as tests/integration/test_operations.py does.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from modelshelf.store import migrate
from tests.fixtures.serve import call, modelshelf_command, serving

V1 = "/api/model_registry/v1"
TOKEN = "msh_backup-test-" + "t" * 32
IS_ROOT = os.geteuid() == 0
AS_UNPRIVILEGED = (
    ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
    if IS_ROOT
    else []
)
# 30 models of 200 KiB: the database outgrows one backup step (4 MiB).
SEEDED = 30
BIG_TEXT = 200 * 1024
WRITE_PAUSE_S = 0.005
REPORTED = re.compile(
    r"backed up (?P<source>\S+) to (?P<target>\S+): "
    r"(?P<size>[\d,]+) bytes, schema revision (?P<revision>\S+)\n"
)


def _env(data_dir: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
    env["MODELSHELF_DATA_DIR"] = str(data_dir)
    env.update({f"MODELSHELF_{name}": value for name, value in values.items()})
    return env


def _modelshelf(
    env: dict[str, str], *args: str, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [*(prefix or []), *modelshelf_command(), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def _one_line_error(done: subprocess.CompletedProcess[str], status: int, *fragments: str) -> None:
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "" and done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), (
        done.stderr
    )
    for fragment in fragments:
        assert fragment in done.stderr, (fragment, done.stderr)


def _created(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created = call(base_url + V1 + path, TOKEN, "POST", body)
    assert status == 201, (status, created)
    return created


@dataclass
class Acknowledged:
    """What the server answered 201 for: the URL of each object, its body, and when the answer came."""

    objects: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def chain(self, base_url: str, name: str, description: str) -> None:
        model = _created(
            base_url,
            "/registered_models",
            {"name": name, "description": description, "customProperties": _props(name)},
        )
        self.objects.append((time.monotonic(), f"/registered_models/{model['id']}", model))
        version = _created(base_url, "/model_versions", {"name": "v1", "registeredModelId": model["id"]})
        self.objects.append((time.monotonic(), f"/model_versions/{version['id']}", version))
        artifact = _created(
            base_url,
            f"/model_versions/{version['id']}/artifacts",
            {"artifactType": "model-artifact", "name": f"{name}-weights", "uri": f"s3://bucket/{name}"},
        )
        self.objects.append((time.monotonic(), f"/artifacts/{artifact['id']}", artifact))

    def before(self, moment: float) -> list[tuple[str, dict[str, Any]]]:
        return [(url, body) for at, url, body in self.objects if at < moment]

    def after(self, moment: float) -> list[tuple[str, dict[str, Any]]]:
        return [(url, body) for at, url, body in self.objects if at > moment]


def _props(name: str) -> dict[str, Any]:
    return {
        "owner": {"metadataType": "MetadataStringValue", "string_value": name},
        "size": {"metadataType": "MetadataIntValue", "int_value": str(len(name))},
    }


def test_a_backup_taken_while_the_server_writes_holds_everything_acknowledged_before_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    database = data_dir / "modelshelf.db"
    env = _env(data_dir, ADMIN_TOKEN=TOKEN)
    target = tmp_path / "backups" / "modelshelf-backup.db"
    target.parent.mkdir()
    acknowledged = Acknowledged()
    stop = threading.Event()
    failures: list[BaseException] = []

    def write_on(base_url: str) -> None:
        try:
            n = 0
            while not stop.is_set():
                acknowledged.chain(base_url, f"during-{n}", f"written while the backup runs ({n})")
                n += 1
                time.sleep(WRITE_PAUSE_S)  # leaves the shared CPUs to the server and the backup
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    with serving(env, tmp_path / "original") as server:
        for n in range(SEEDED):
            acknowledged.chain(server.base_url, f"seeded-{n}", os.urandom(BIG_TEXT // 2).hex())
        # A reader's snapshot from before the writer starts keeps checkpoints from moving what follows
        # into the main file (as any long read would): the objects acknowledged next are in the WAL
        # only, and a copy of the file alone would miss them.
        with closing(sqlite3.connect(database, isolation_level=None)) as pin:
            pin.execute("BEGIN")
            pin.execute("SELECT count(*) FROM registered_model").fetchall()
            writer = threading.Thread(target=write_on, args=(server.base_url,))
            writer.start()
            try:
                while len(acknowledged.objects) < 3 * SEEDED + 15 and not failures:
                    time.sleep(0.01)  # the writer is under way before the backup starts
                with closing(sqlite3.connect(f"{database.as_uri()}?immutable=1", uri=True)) as main_file:
                    query = "SELECT count(*) FROM registered_model WHERE name = 'during-0'"
                    assert main_file.execute(query).fetchall() == [(0,)], "during-0 is in the WAL only"
                started = time.monotonic()
                done = _modelshelf(_env(data_dir), "db", "backup", str(target))
                ended = time.monotonic()
                during = [at for at, _, _ in acknowledged.objects if started < at < ended]
                pin.execute("ROLLBACK")
                time.sleep(0.2)
            finally:
                stop.set()
                writer.join(timeout=30)
    assert not failures, failures
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert during, "the server acknowledged writes while the backup ran"

    reported = REPORTED.fullmatch(done.stdout)
    assert reported, done.stdout
    assert reported["source"] == str(data_dir / "modelshelf.db") and reported["target"] == str(target)
    assert int(reported["size"].replace(",", "")) == target.stat().st_size > 3 * SEEDED * BIG_TEXT // 4
    assert reported["revision"] == migrate.head_revision()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporary file, -wal, -shm
    with closing(sqlite3.connect(target)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    # Restoring: the file, put in place as the database of a data directory that a server then opens.
    restored = tmp_path / "restored"
    restored.mkdir(mode=0o700)
    shutil.copyfile(target, restored / "modelshelf.db")
    check = _modelshelf(_env(restored), "db", "check")
    assert (
        check.returncode == 0 and f"database is current (revision {migrate.head_revision()})" in check.stdout
    )
    expected = acknowledged.before(started)
    later = acknowledged.after(ended)
    assert len(expected) >= 3 * SEEDED + 6 and later, "writes before and after the backup"
    with serving(_env(restored), tmp_path / "restored-server", "--no-migrate") as server:
        for url, body in expected:
            assert call(server.base_url + V1 + url, TOKEN) == (200, body), url
        for url, _body in later:  # the backup is a snapshot taken before it ended
            assert call(server.base_url + V1 + url, TOKEN)[0] == 404, url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory with a migrated database and no server."""
    data_dir = tmp_path / "data"
    upgraded = _modelshelf(_env(data_dir), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return data_dir


def test_an_existing_path_is_kept_unless_forced(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "existing.db"
    target.write_text("an older backup, or anything else")
    target.chmod(0o644)
    refused = _modelshelf(_env(data_dir), "db", "backup", str(target))
    _one_line_error(refused, 1, f"{target} already exists", "--force")
    assert target.read_text() == "an older backup, or anything else"

    forced = _modelshelf(_env(data_dir), "db", "backup", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert REPORTED.fullmatch(forced.stdout), forced.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # a new file, not the old one rewritten
    with closing(sqlite3.connect(target)) as copy:
        revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == (migrate.head_revision(),)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "existing.db"]


def test_the_database_itself_is_never_a_target(data_dir: Path) -> None:
    database = data_dir / "modelshelf.db"
    before = database.read_bytes()
    for name in ("modelshelf.db", "modelshelf.db-wal"):
        refused = _modelshelf(_env(data_dir), "db", "backup", str(data_dir / name), "--force")
        _one_line_error(refused, 1, "is the database itself")
    assert database.read_bytes() == before


def test_an_unwritable_path_is_one_clear_line(data_dir: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    refused = _modelshelf(_env(data_dir), "db", "backup", str(locked / "b.db"), prefix=AS_UNPRIVILEGED)
    _one_line_error(refused, 1, f"cannot write the backup {locked / 'b.db'}: Permission denied")
    assert list(locked.iterdir()) == []

    missing = tmp_path / "no-such-dir" / "b.db"
    refused = _modelshelf(_env(data_dir), "db", "backup", str(missing))
    _one_line_error(refused, 1, f"directory {missing.parent} does not exist")
    refused = _modelshelf(_env(data_dir), "db", "backup", str(tmp_path))
    _one_line_error(refused, 1, f"{tmp_path} is a directory")


def test_no_database_is_an_error_and_none_is_created(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    refused = _modelshelf(_env(empty), "db", "backup", str(tmp_path / "b.db"))
    _one_line_error(refused, 1, f"no database at {empty / 'modelshelf.db'}")
    assert not empty.exists() and not (tmp_path / "b.db").exists()


@pytest.mark.postgres
def test_postgres_is_pointed_to_pg_dump(postgres_url: str, tmp_path: Path) -> None:
    env = _env(tmp_path / "data", DATABASE_URL=postgres_url)
    refused = _modelshelf(env, "db", "backup", str(tmp_path / "b.db"))
    _one_line_error(refused, 2, "pg_dump", "docs/operations.md")
    assert not (tmp_path / "b.db").exists()
