"""The `modelshelf` command: db upgrade / db check, and serve refusing an outdated schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"MODELSHELF_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "modelshelf.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_db_check_then_upgrade(tmp_path: Path) -> None:
    before = _run(tmp_path, "db", "check")
    assert before.returncode == 1 and "modelshelf db upgrade" in before.stderr
    upgraded = _run(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "data" / "modelshelf.db").exists()
    after = _run(tmp_path, "db", "check")
    assert after.returncode == 0 and "current" in after.stdout


def test_serve_without_migrations_refuses_an_old_schema(tmp_path: Path) -> None:
    result = _run(tmp_path, "serve", "--no-migrate", "--port", "1")
    assert result.returncode == 1 and "db upgrade" in result.stderr


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = _run(tmp_path, "frobnicate")
    assert result.returncode == 2 and "usage" in result.stderr
