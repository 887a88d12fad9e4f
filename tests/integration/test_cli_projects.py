"""`modelshelf project create | list | show | refresh | delete`, in-process on both backends, with a
configuration file whose `[[git.rewrite]]` points the repository URL at a local repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_cli_accounts import Cli, Result, _main, _use_env, ok
from tests.integration.test_git_models import REPO, GitRepo, dvc_project


@pytest.fixture
def project_cli(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[Cli, GitRepo]:
    origin = GitRepo(tmp_path / "origin" / "models.git")
    config = tmp_path / "modelshelf.toml"
    config.write_text(
        f"""
public_url = "https://models.example.com"
[git]
refresh_interval = "0"
[[git.rewrite]]
prefix = "https://git.example.com/acme/"
to = "{origin.path.parent.as_uri()}/"
"""
    )
    _use_env(monkeypatch, DATABASE_URL=database_url, DATA_DIR=str(tmp_path / "data"), CONFIG=str(config))

    def run(*args: str) -> Result:
        return _main(capsys, *args)

    return run, origin


def fields(out: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def test_create_fetches_and_indexes_then_show_list_refresh_delete(project_cli: tuple[Cli, GitRepo]) -> None:
    cli, origin = project_cli
    dvc_project(origin, "m")
    origin.commit("v1")
    origin.tag("clf@v1.0.0")
    ok(cli("user", "create", "alice"))
    shown = fields(ok(cli("project", "create", REPO, "--user", "alice", "--public")))
    assert shown["state"] == "ready" and shown["error"] == "-"
    assert shown["repository"] == "git.example.com/acme/models"
    assert shown["url"] == f"https://models.example.com/user/alice/projects/models-{shown['id']}"
    assert shown["visibility"] == "public" and shown["webhook secret"] != "-"

    listed = ok(cli("project", "list"))
    assert shown["id"] in listed and "git.example.com/acme/models" in listed and "ready" in listed
    assert fields(ok(cli("project", "show", shown["id"])))["last indexed"] != "-"

    assert ok(cli("project", "refresh", shown["id"])).strip().endswith("fetched, no new tags")
    origin.tag("clf#prod#1")
    assert "indexed 0 new commit(s)" in ok(cli("project", "refresh", shown["id"]))

    failed = cli("project", "create", REPO, "--user", "alice")
    assert failed.code == 1 and "already exists" in failed.err

    assert ok(cli("project", "delete", shown["id"])) == f"deleted project {shown['id']}\n"
    gone = cli("project", "show", shown["id"])
    assert gone.code == 1 and "not found" in gone.err


def test_an_unreachable_repository_is_shown_as_an_error(project_cli: tuple[Cli, GitRepo]) -> None:
    cli, _origin = project_cli
    ok(cli("team", "create", "ml"))
    result = cli("project", "create", "https://git.example.com/acme/missing.git", "--team", "ml")
    assert result.code == 0, result
    assert "warning:" in result.err
    shown = fields(result.out)
    assert shown["state"] == "error" and "does not appear to be a git repository" in shown["error"]
    assert shown["namespace"] == "team/ml"
    refresh = cli("project", "refresh", shown["id"])
    assert refresh.code == 1 and "error:" in refresh.err


def test_bad_input_is_one_line_and_exit_1(project_cli: tuple[Cli, GitRepo]) -> None:
    cli, _origin = project_cli
    ok(cli("user", "create", "alice"))
    for args, message in (
        (("project", "create", "not a url", "--user", "alice"), "error:"),
        (("project", "create", REPO, "--user", "nobody"), "user 'nobody' not found"),
        (("project", "create", REPO, "--team", "nope"), "team 'nope' not found"),
        (("project", "create", REPO, "--user", "alice", "--subdir", "../x"), "invalid subdir"),
        (("project", "show", "nosuchproj"), "not found"),
    ):
        result = cli(*args)
        assert result.code == 1, (args, result)
        assert message in result.err and result.err.count("\n") == 1, (args, result)
