"""`modelshelf user | team | token | audit`, and how `serve` makes its first admin (or runs with --no-auth).

The account commands run in-process (`main([...])`) on both backends, with the database checked after
each; one test runs `token create` in a shell as `TOKEN=$(...)`. `serve` runs as the real process on a free
127.0.0.1 port with its own data dir (SQLite only), and is always stopped in a `finally`.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from modelshelf.cli.main import is_loopback, main
from modelshelf.store import migrate, tables
from modelshelf.store.engine import connect
from tests.fixtures.serve import call, free_port, modelshelf_command, serving

V1 = "/api/model_registry/v1"
MODELS = f"{V1}/registered_models"
TOKEN_SHAPE = re.compile(r"msh_[A-Za-z0-9_-]{43}")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
DAY_MS = 86_400_000
ACCOUNT_TABLES = (tables.user, tables.team, tables.team_member, tables.api_token, tables.audit_event)


# --- running the CLI in-process ------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


def _use_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Only these MODELSHELF_* variables, as `load_settings` will read them."""
    for name in list(os.environ):
        if name.startswith("MODELSHELF_"):
            monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(f"MODELSHELF_{name}", value)


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    capsys.readouterr()  # drop whatever was printed before
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse refusing the command line
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


@pytest.fixture
def cli(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """`modelshelf ARGS...` on the test's migrated database, as a Result."""
    _use_env(monkeypatch, DATABASE_URL=database_url, DATA_DIR=str(tmp_path / "unused-data-dir"))

    def run(*args: str) -> Result:
        return _main(capsys, *args)

    return run


def ok(result: Result) -> str:
    assert result.code == 0, result
    assert result.err == "", result
    return result.out


def created(result: Result) -> str:
    """The token that `token create` printed: alone on stdout, its details on stderr."""
    assert result.code == 0, result
    assert result.out.count("\n") == 1 and result.out.endswith("\n"), result
    token = result.out.removesuffix("\n")
    assert TOKEN_SHAPE.fullmatch(token), result
    assert "created token" in result.err and token not in result.err, result
    return token


def failed(result: Result, *fragments: str, code: int = 1) -> str:
    """The command failed with `code`, printed nothing on stdout, and said why on stderr."""
    assert result.code == code, result
    assert result.out == "", result
    if code == 1:
        assert result.err.startswith("error: ") or "modelshelf db upgrade" in result.err, result
    for fragment in fragments:
        assert fragment in result.err, (fragment, result)
    return result.err


def table(out: str) -> tuple[list[str], list[dict[str, str]]]:
    """A printed table: its header, and its rows keyed by column name (columns found from the header)."""
    lines = out.splitlines()
    assert lines, "no table printed"
    columns = [(m.group(), m.start()) for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    names = [name for name, _ in columns]
    bounds = [start for _, start in columns[1:]] + [None]
    rows = [
        {name: line[start:end].strip() for (name, start), end in zip(columns, bounds, strict=True)}
        for line in lines[1:]
    ]
    return names, rows


def team_output(out: str) -> tuple[str, list[dict[str, str]]]:
    """What team commands print: a `team NAME, created TIME` line, then the MEMBER / ROLE table."""
    title, _, rest = out.partition("\n")
    header, members = table(rest)
    assert header == ["MEMBER", "ROLE"], out
    return title, members


# --- the database --------------------------------------------------------------------------------------


def rows_of(engine: Engine, table_: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table_).order_by(*table_.primary_key)).mappings()]


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    return {t.name: rows_of(engine, t) for t in ACCOUNT_TABLES}


def user_row(engine: Engine, name: str) -> dict[str, Any]:
    (row,) = [r for r in rows_of(engine, tables.user) if r["name"] == name]
    return row


def audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.audit_event)).scalar_one())


def everything_stored(engine: Engine) -> str:
    """Every value of every table, as text."""
    return repr([rows_of(engine, t) for t in tables.metadata.sorted_tables])


def sqlite_files(database_url: str) -> bytes:
    """The SQLite database file with its WAL, as bytes; empty for PostgreSQL."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database is None:
        return b""
    path = Path(url.database)
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


# --- users ---------------------------------------------------------------------------------------------


def test_user_create_and_list(cli: Cli, engine: Engine) -> None:
    header, rows = table(ok(cli("user", "create", "carol")))
    assert header == ["NAME", "ADMIN", "DISABLED", "CREATED"]
    assert [(r["NAME"], r["ADMIN"], r["DISABLED"]) for r in rows] == [("carol", "no", "no")]
    assert ISO.fullmatch(rows[0]["CREATED"]), rows
    _, rows = table(ok(cli("user", "create", "alice")))
    assert [r["NAME"] for r in rows] == ["alice"]
    _, rows = table(ok(cli("user", "create", "bob", "--admin")))
    assert [(r["NAME"], r["ADMIN"], r["DISABLED"]) for r in rows] == [("bob", "yes", "no")]

    header, rows = table(ok(cli("user", "list")))
    assert header == ["NAME", "ADMIN", "DISABLED", "CREATED"]
    assert [(r["NAME"], r["ADMIN"], r["DISABLED"]) for r in rows] == [
        ("alice", "no", "no"),
        ("bob", "yes", "no"),
        ("carol", "no", "no"),
    ]
    assert all(ISO.fullmatch(r["CREATED"]) for r in rows), rows

    stored = {r["name"]: (bool(r["is_admin"]), bool(r["disabled"])) for r in rows_of(engine, tables.user)}
    assert stored == {"alice": (False, False), "bob": (True, False), "carol": (False, False)}


def test_user_list_on_an_empty_database_prints_the_header(cli: Cli) -> None:
    assert ok(cli("user", "list")) == "NAME  ADMIN  DISABLED  CREATED\n"


def test_user_disable_enable_and_admin_rights(cli: Cli, engine: Engine) -> None:
    ok(cli("user", "create", "alice"))

    def shown(*args: str) -> tuple[str, str, str]:
        _, rows = table(ok(cli("user", *args)))
        assert len(rows) == 1, rows
        return rows[0]["NAME"], rows[0]["ADMIN"], rows[0]["DISABLED"]

    def stored() -> tuple[bool, bool]:
        row = user_row(engine, "alice")
        return bool(row["is_admin"]), bool(row["disabled"])

    assert shown("disable", "alice") == ("alice", "no", "yes")
    assert stored() == (False, True)
    assert shown("grant-admin", "alice") == ("alice", "yes", "yes")
    assert stored() == (True, True)
    assert shown("enable", "alice") == ("alice", "yes", "no")
    assert stored() == (True, False)
    assert shown("revoke-admin", "alice") == ("alice", "no", "no")
    assert stored() == (False, False)

    # Asking for what is already so changes nothing and records nothing.
    events = audit_count(engine)
    assert shown("enable", "alice") == ("alice", "no", "no")
    assert shown("revoke-admin", "alice") == ("alice", "no", "no")
    assert audit_count(engine) == events


def test_a_duplicate_user_is_refused_and_nothing_changes(cli: Cli, engine: Engine) -> None:
    ok(cli("user", "create", "alice"))
    ok(cli("team", "create", "ml"))
    before = snapshot(engine)

    failed(cli("user", "create", "alice", "--admin"), "a user named 'alice' already exists")
    failed(cli("user", "create", "ml"), "a team named 'ml' already exists")
    failed(cli("team", "create", "alice"), "a user named 'alice' already exists")

    assert snapshot(engine) == before
    assert not user_row(engine, "alice")["is_admin"]


def test_an_invalid_user_name_is_refused(cli: Cli, engine: Engine) -> None:
    for name in ("Alice", "bob-", "_x", "a b", "é", "x" * 65, "a/b", ""):
        err = failed(cli("user", "create", name), "invalid user name")
        assert "lowercase letters, digits" in err, err
    failed(cli("team", "create", "ML Team"), "invalid team name")
    # The longest allowed name, and a single character, are fine.
    ok(cli("user", "create", "a" + "b" * 62 + "c"))
    ok(cli("user", "create", "x"))
    assert sorted(r["name"] for r in rows_of(engine, tables.user)) == ["a" + "b" * 62 + "c", "x"]


def test_an_unknown_user_team_or_token_is_an_error(cli: Cli, engine: Engine) -> None:
    ok(cli("team", "create", "ml"))
    before = snapshot(engine)
    for action in ("disable", "enable", "grant-admin", "revoke-admin"):
        failed(cli("user", action, "nobody"), "user 'nobody' not found")
    failed(cli("team", "add-member", "ml", "nobody"), "user 'nobody' not found")
    failed(cli("team", "remove-member", "ml", "nobody"), "user 'nobody' not found")
    failed(cli("token", "create", "nobody", "--name", "x", "--scope", "models:read"), "'nobody' not found")
    failed(cli("token", "list", "--user", "nobody"), "user 'nobody' not found")
    failed(cli("team", "show", "nope"), "team 'nope' not found")
    failed(cli("team", "disable", "nope"), "team 'nope' not found")
    failed(cli("token", "revoke", "999"), "token 999 not found")
    assert snapshot(engine) == before


def test_a_missing_argument_is_a_usage_error(cli: Cli) -> None:
    for args in (("user",), ("user", "create"), ("user", "frobnicate", "x"), ("token", "revoke", "one")):
        result = cli(*args)
        assert result.code == 2 and result.out == "" and "usage: modelshelf" in result.err, (args, result)


# --- teams ---------------------------------------------------------------------------------------------


def members_stored(engine: Engine) -> dict[str, str]:
    names = {r["id"]: r["name"] for r in rows_of(engine, tables.user)}
    return {names[r["user_id"]]: r["role"] for r in rows_of(engine, tables.team_member)}


def test_team_membership_and_listing(cli: Cli, engine: Engine) -> None:
    for name in ("alice", "bob"):
        ok(cli("user", "create", name))
    title, members = team_output(ok(cli("team", "create", "ml")))
    assert re.fullmatch(r"team ml, created " + ISO.pattern, title), title
    assert members == []

    _, members = team_output(ok(cli("team", "add-member", "ml", "bob")))
    assert members == [{"MEMBER": "bob", "ROLE": "member"}]
    _, members = team_output(ok(cli("team", "add-member", "ml", "alice", "--role", "owner")))
    assert members == [{"MEMBER": "alice", "ROLE": "owner"}, {"MEMBER": "bob", "ROLE": "member"}]
    assert members_stored(engine) == {"alice": "owner", "bob": "member"}

    title, members = team_output(ok(cli("team", "show", "ml")))
    assert title.startswith("team ml, created ")
    assert members == [{"MEMBER": "alice", "ROLE": "owner"}, {"MEMBER": "bob", "ROLE": "member"}]

    ok(cli("team", "create", "data"))
    header, rows = table(ok(cli("team", "list")))
    assert header == ["NAME", "DISABLED", "CREATED", "MEMBERS"]
    assert [(r["NAME"], r["DISABLED"], r["MEMBERS"]) for r in rows] == [
        ("data", "no", "-"),
        ("ml", "no", "alice (owner), bob (member)"),
    ]
    assert all(ISO.fullmatch(r["CREATED"]) for r in rows), rows

    # Adding someone again changes their role.
    _, members = team_output(ok(cli("team", "add-member", "ml", "bob", "--role", "owner")))
    assert members == [{"MEMBER": "alice", "ROLE": "owner"}, {"MEMBER": "bob", "ROLE": "owner"}]
    assert members_stored(engine) == {"alice": "owner", "bob": "owner"}

    _, members = team_output(ok(cli("team", "remove-member", "ml", "bob")))
    assert members == [{"MEMBER": "alice", "ROLE": "owner"}]
    assert members_stored(engine) == {"alice": "owner"}
    failed(cli("team", "remove-member", "ml", "bob"), "user 'bob' is not a member of team 'ml'")
    failed(cli("team", "add-member", "nope", "bob"), "team 'nope' not found")

    title, members = team_output(ok(cli("team", "disable", "ml")))
    assert title.startswith("team ml (disabled), created "), title
    assert members == [{"MEMBER": "alice", "ROLE": "owner"}]
    assert {r["name"]: bool(r["disabled"]) for r in rows_of(engine, tables.team)} == {
        "data": False,
        "ml": True,
    }
    _, rows = table(ok(cli("team", "list")))
    assert [(r["NAME"], r["DISABLED"]) for r in rows] == [("data", "no"), ("ml", "yes")]

    title, _ = team_output(ok(cli("team", "enable", "ml")))
    assert title.startswith("team ml, created "), title
    assert not [r for r in rows_of(engine, tables.team) if r["disabled"]]


def test_a_bad_role_is_refused_by_the_command_line(cli: Cli, engine: Engine) -> None:
    ok(cli("user", "create", "alice"))
    ok(cli("team", "create", "ml"))
    before = snapshot(engine)
    result = cli("team", "add-member", "ml", "alice", "--role", "admin")
    assert result.code == 2 and result.out == "", result
    assert "invalid choice: 'admin'" in result.err and "usage:" in result.err, result
    assert snapshot(engine) == before


# --- tokens --------------------------------------------------------------------------------------------


def test_token_create_prints_the_token_alone_and_stores_only_its_hash(
    cli: Cli, engine: Engine, database_url: str
) -> None:
    ok(cli("user", "create", "alice"))
    result = cli(
        "token",
        "create",
        "alice",
        "--name",
        "laptop",
        "--scope",
        "models:read",
        "--scope",
        "models:write",
        "--expires-in-days",
        "30",
    )
    assert result.code == 0, result
    token = result.out.removesuffix("\n")
    assert result.out == token + "\n", result.out  # one line, nothing else
    assert TOKEN_SHAPE.fullmatch(token), token
    # The information is for the person at the terminal, on stderr, without the secret.
    assert "created token 1 'laptop' for alice" in result.err, result.err
    assert "scopes: models:read models:write" in result.err, result.err
    assert re.search(r"expires: " + ISO.pattern, result.err), result.err
    assert "shown only this once" in result.err, result.err
    assert token not in result.err

    (row,) = rows_of(engine, tables.api_token)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert row["display_prefix"] == token[:10]
    assert row["name"] == "laptop"
    assert row["user_id"] == user_row(engine, "alice")["id"]
    assert row["scopes"] == "models:read models:write"
    assert row["expire_time"] - row["create_time"] == 30 * DAY_MS
    assert row["revoke_time"] is None and row["last_used_time"] is None

    # The secret is nowhere in the database: not in any row, not in the file.
    stored = everything_stored(engine)
    assert row["token_hash"] in stored  # the search does see what is stored
    assert token not in stored and token[4:] not in stored
    raw = sqlite_files(database_url)
    if raw:
        assert row["token_hash"].encode() in raw
        assert token.encode() not in raw and token[4:].encode() not in raw


def test_token_create_works_as_a_shell_substitution(
    database_url: str, tmp_path: Path, engine: Engine
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
    env["MODELSHELF_DATABASE_URL"] = database_url
    command = [*modelshelf_command(), "user", "create", "alice"]
    made = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert made.returncode == 0, made.stderr

    script = 'TOKEN=$("$@") || exit 1; printf "[%s]" "$TOKEN"'
    command = [*modelshelf_command(), "token", "create", "alice", "--name", "ci", "--scope", "models:read"]
    result = subprocess.run(
        ["sh", "-c", script, "sh", *command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"\[(.*)\]", result.stdout)
    assert match is not None and TOKEN_SHAPE.fullmatch(match.group(1)), result.stdout
    assert "created token 1 'ci' for alice" in result.stderr and match.group(1) not in result.stderr
    (row,) = rows_of(engine, tables.api_token)
    assert row["token_hash"] == hashlib.sha256(match.group(1).encode()).hexdigest()
    assert row["expire_time"] is None


def test_token_list_shows_prefixes_never_secrets(cli: Cli) -> None:
    ok(cli("user", "create", "alice"))
    ok(cli("user", "create", "bob", "--admin"))
    laptop = created(cli("token", "create", "alice", "--name", "laptop", "--scope", "models:write"))
    ci = created(
        cli(
            "token",
            "create",
            "bob",
            "--name",
            "ci job",
            "--scope",
            "admin",
            "--scope",
            "models:read",
            "--expires-in-days",
            "1",
        )
    )
    assert TOKEN_SHAPE.fullmatch(laptop) and TOKEN_SHAPE.fullmatch(ci)

    out = ok(cli("token", "list"))
    header, rows = table(out)
    assert header == ["ID", "USER", "NAME", "PREFIX", "SCOPES", "EXPIRES", "LAST USED", "REVOKED"]
    assert [{k: v for k, v in r.items() if k != "EXPIRES"} for r in rows] == [
        {
            "ID": "1",
            "USER": "alice",
            "NAME": "laptop",
            "PREFIX": laptop[:10] + "...",
            "SCOPES": "models:write",
            "LAST USED": "never",
            "REVOKED": "-",
        },
        {
            "ID": "2",
            "USER": "bob",
            "NAME": "ci job",
            "PREFIX": ci[:10] + "...",
            "SCOPES": "admin,models:read",
            "LAST USED": "never",
            "REVOKED": "-",
        },
    ]
    assert rows[0]["EXPIRES"] == "never" and ISO.fullmatch(rows[1]["EXPIRES"]), rows
    for secret in (laptop, ci):
        assert secret not in out and secret[:11] not in out and secret[10:] not in out

    _, rows = table(ok(cli("token", "list", "--user", "alice")))
    assert [r["NAME"] for r in rows] == ["laptop"]
    _, rows = table(ok(cli("token", "list", "--user", "bob")))
    assert [r["NAME"] for r in rows] == ["ci job"]


def test_token_revoke_takes_effect_at_once(cli: Cli, engine: Engine, anonymous: TestClient) -> None:
    ok(cli("user", "create", "alice"))
    token = created(cli("token", "create", "alice", "--name", "laptop", "--scope", "models:read"))
    headers = {"Authorization": f"Bearer {token}"}
    response = anonymous.get(MODELS, headers=headers)
    assert response.status_code == 200, response.text

    _, rows = table(ok(cli("token", "revoke", "1")))
    assert [(r["ID"], r["USER"], r["NAME"]) for r in rows] == [("1", "alice", "laptop")]
    assert ISO.fullmatch(rows[0]["REVOKED"]), rows
    (row,) = rows_of(engine, tables.api_token)
    revoked = row["revoke_time"]
    assert revoked is not None and revoked >= row["create_time"]
    response = anonymous.get(MODELS, headers=headers)
    assert response.status_code == 401, response.text

    # Revoking again is harmless: same time, no second event.
    events = audit_count(engine)
    _, rows_again = table(ok(cli("token", "revoke", "1")))
    assert rows_again == rows
    assert rows_of(engine, tables.api_token)[0]["revoke_time"] == revoked
    assert audit_count(engine) == events
    _, listed = table(ok(cli("token", "list")))
    assert listed[0]["REVOKED"] == rows[0]["REVOKED"]


@pytest.mark.parametrize("token_id", ["0", "7", "2147483648", "99999999999999999999999"])
def test_revoking_a_token_that_cannot_exist_is_a_clear_error(cli: Cli, token_id: str) -> None:
    failed(cli("token", "revoke", token_id), f"error: token {token_id} not found")


def test_token_create_refusals(cli: Cli, engine: Engine) -> None:
    ok(cli("user", "create", "alice"))
    ok(cli("user", "create", "bob", "--admin"))
    ok(cli("user", "create", "carol"))
    ok(cli("user", "disable", "carol"))
    before = snapshot(engine)

    def create(*args: str) -> Result:
        return cli("token", "create", *args)

    err = failed(create("alice", "--name", "x", "--scope", "models:delete"), "unknown scope 'models:delete'")
    assert "models:read, models:write, projects:create, metrics:read, admin" in err
    failed(
        create("alice", "--name", "x", "--scope", "models:read", "--scope", "nope"), "unknown scope 'nope'"
    )
    # One scope per --scope: a comma-separated list is taken as one (unknown) name.
    failed(
        create("alice", "--name", "x", "--scope", "models:read,models:write"),
        "unknown scope 'models:read,models:write'",
    )
    for days in ("0", "9999", "-1", "3651"):
        failed(
            create("alice", "--name", "x", "--scope", "models:read", "--expires-in-days", days),
            "from 1 to 3650",
        )
    failed(create("alice", "--name", "x", "--scope", "admin"), "'alice' is not an admin", "'admin' scope")
    failed(create("carol", "--name", "x", "--scope", "models:read"), "user 'carol' is disabled")
    failed(create("alice", "--name", " ", "--scope", "models:read"), "a token name must be")
    assert snapshot(engine) == before

    # Usage errors, caught before anything runs.
    for args in (
        ("alice", "--name", "x", "--scope", "models:read", "--expires-in-days", "soon"),
        ("alice", "--scope", "models:read"),
        ("alice", "--name", "x"),
    ):
        result = create(*args)
        assert result.code == 2 and result.out == "" and "usage:" in result.err, (args, result)
    assert snapshot(engine) == before

    # What is allowed: an admin's admin scope, the longest expiry; a name is unique per user.
    assert TOKEN_SHAPE.fullmatch(created(create("bob", "--name", "x", "--scope", "admin")))
    created(create("alice", "--name", "x", "--scope", "models:read", "--expires-in-days", "3650"))
    failed(create("alice", "--name", "x", "--scope", "models:write"), "already has a token named 'x'")
    assert [(r["user_id"], r["name"]) for r in rows_of(engine, tables.api_token)] == [
        (user_row(engine, "bob")["id"], "x"),
        (user_row(engine, "alice")["id"], "x"),
    ]


def test_user_changes_apply_to_their_tokens(cli: Cli, anonymous: TestClient) -> None:
    ok(cli("user", "create", "bob", "--admin"))
    token = created(cli("token", "create", "bob", "--name", "ops", "--scope", "admin"))
    headers = {"Authorization": f"Bearer {token}"}

    def status() -> int:
        return anonymous.get("/api/admin/v1/users", headers=headers).status_code

    assert status() == 200
    ok(cli("user", "revoke-admin", "bob"))
    assert status() == 403
    ok(cli("user", "grant-admin", "bob"))
    assert status() == 200
    ok(cli("user", "disable", "bob"))
    assert status() == 401
    ok(cli("user", "enable", "bob"))
    assert status() == 200
    # The request just made is the token's last use, which the list now shows.
    _, rows = table(ok(cli("token", "list")))
    assert ISO.fullmatch(rows[0]["LAST USED"]), rows


# --- audit ---------------------------------------------------------------------------------------------


def test_audit_list_shows_cli_actions_newest_first(cli: Cli, client: TestClient) -> None:
    # `client` bootstrapped the admin (as `serve` does, recorded as the CLI); then the admin API adds dave.
    response = client.post("/api/admin/v1/users", json={"name": "dave"})
    assert response.status_code == 201, response.text
    ok(cli("user", "create", "alice"))
    ok(cli("user", "create", "bob", "--admin"))
    ok(cli("user", "disable", "alice"))
    ok(cli("team", "create", "ml"))
    ok(cli("team", "add-member", "ml", "bob", "--role", "owner"))
    created(cli("token", "create", "bob", "--name", "ops", "--scope", "models:read"))
    ok(cli("token", "revoke", "2"))

    header, rows = table(ok(cli("audit", "list")))
    assert header == ["TIME", "PRINCIPAL", "VIA", "ACTION", "ENTITY", "DETAIL"]
    shown = [(r["PRINCIPAL"], r["VIA"], r["ACTION"], r["ENTITY"], r["DETAIL"]) for r in rows]
    assert shown == [
        ("-", "cli", "revoke", "token:2", "user=bob"),
        ("-", "cli", "create", "token:2", "user=bob name=ops"),
        ("-", "cli", "set_member", "team:ml", "user=bob role=owner"),
        ("-", "cli", "create", "team:ml", ""),
        ("-", "cli", "update", "user:alice", "disabled=True"),
        ("-", "cli", "create", "user:bob", "admin=True"),
        ("-", "cli", "create", "user:alice", "admin=False"),
        ("admin", "api", "create", "user:dave", "admin=False"),
        ("-", "cli", "create", "token:1", "user=admin name=bootstrap"),
        ("-", "cli", "create", "user:admin", "admin=True"),
    ]
    times = [r["TIME"] for r in rows]
    assert all(ISO.fullmatch(t) for t in times) and times == sorted(times, reverse=True), times

    def listed(*args: str) -> list[tuple[str, str, str]]:
        _, rows = table(ok(cli("audit", "list", *args)))
        return [(r["PRINCIPAL"], r["ACTION"], r["ENTITY"]) for r in rows]

    assert listed("--principal", "admin") == [("admin", "create", "user:dave")]
    assert listed("--principal", "alice") == []
    assert listed("--entity", "user:alice") == [("-", "update", "user:alice"), ("-", "create", "user:alice")]
    assert listed("--entity", "team") == [("-", "set_member", "team:ml"), ("-", "create", "team:ml")]
    assert listed("--via", "api") == [("admin", "create", "user:dave")]
    assert listed("--limit", "2") == [("-", "revoke", "token:2"), ("-", "create", "token:2")]
    assert listed("--entity", "user", "--limit", "1") == [("-", "update", "user:alice")]
    assert listed("--via", "no-auth") == []
    assert len(listed("--via", "cli")) == 9


def test_audit_list_refusals(cli: Cli) -> None:
    ok(cli("user", "create", "alice"))
    for limit in ("0", "-5", "1001"):
        failed(cli("audit", "list", "--limit", limit), "between 1 and 1000")
    failed(cli("audit", "list", "--entity", ":3"), "entity must be <type> or <type>:<id>")
    for args in (("--limit", "many"), ("--via", "carrier-pigeon")):
        result = cli("audit", "list", *args)
        assert result.code == 2 and result.out == "" and "usage:" in result.err, (args, result)
    assert len(table(ok(cli("audit", "list", "--limit", "1000")))[1]) == 1


NOT_UTF8 = "\udcff"  # what Python makes of a byte 0xff in a command-line argument


@pytest.mark.parametrize(
    "args",
    [
        ("audit", "list", "--principal", NOT_UTF8),
        ("audit", "list", "--entity", f"user:{NOT_UTF8}"),
        ("user", "create", f"a{NOT_UTF8}"),
        ("team", "add-member", "ml", NOT_UTF8),
        ("token", "create", "alice", "--name", NOT_UTF8, "--scope", "models:read"),
        ("token", "create", "alice", "--name", "x", "--scope", "models:read", "--scope", NOT_UTF8),
    ],
)
def test_arguments_that_are_not_utf8_are_a_usage_error(
    cli: Cli, engine: Engine, args: tuple[str, ...]
) -> None:
    ok(cli("user", "create", "alice"))
    before = snapshot(engine)
    result = cli(*args)
    assert result.code == 2 and result.out == "", result
    assert "is not valid UTF-8" in result.err and "Traceback" not in result.err
    assert snapshot(engine) == before


# --- a database whose schema is not current ------------------------------------------------------------

COMMANDS = (
    ("user", "list"),
    ("user", "create", "alice"),
    ("user", "disable", "alice"),
    ("team", "list"),
    ("team", "create", "ml"),
    ("token", "list"),
    ("token", "create", "alice", "--name", "x", "--scope", "models:read"),
    ("token", "revoke", "1"),
    ("audit", "list"),
)


def table_names(database_url: str) -> set[str]:
    engine = connect(database_url)
    try:
        with engine.connect() as conn:
            names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
            return set(names)
    finally:
        engine.dispose()


def test_commands_refuse_a_database_without_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    url = f"sqlite:///{path}"
    _use_env(monkeypatch, DATABASE_URL=url)
    for command in COMMANDS:
        failed(_main(capsys, *command), "database schema is not current: run 'modelshelf db upgrade'")
    assert table_names(url) == set()


def test_commands_refuse_a_database_one_migration_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = connect(url)
    migrate.upgrade(engine, "0001")
    engine.dispose()
    _use_env(monkeypatch, DATABASE_URL=url)
    for command in COMMANDS:
        failed(_main(capsys, *command), "run 'modelshelf db upgrade'")
    assert "user_account" not in table_names(url)
    # ... and once upgraded, they work.
    assert _main(capsys, "db", "upgrade").code == 0
    assert ok(_main(capsys, "user", "create", "alice")).startswith("NAME")


def test_commands_work_on_a_schema_from_a_later_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a newer release migrated (a rolling upgrade, or a rollback of the code), this release's
    commands still run; `db upgrade` leaves the schema alone, and `db check` says it is not this one's."""
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    engine = connect(url)
    migrate.upgrade(engine)
    head = migrate.head_revision()
    assert head is not None
    newer = f"{int(head) + 1:04d}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{newer}'")
    _use_env(monkeypatch, DATABASE_URL=url)
    assert ok(_main(capsys, "user", "create", "alice")).startswith("NAME")
    upgraded = ok(_main(capsys, "db", "upgrade"))
    assert (
        upgraded
        == f"database at revision {newer}, from a newer release than this one ({head}): left as it is\n"
    )
    checked = _main(capsys, "db", "check")
    assert checked.code == 1 and f"revision {newer}, from a newer release" in checked.err, checked
    assert migrate.current_revision(engine) == newer
    engine.dispose()


# --- serve: the first admin, and --no-auth -------------------------------------------------------------

BANNER_TOKEN = re.compile(r"^    (\S+)$", re.MULTILINE)


def _serve_env(data_dir: Path, **values: str) -> dict[str, str]:
    """The server's environment. Without PYTHONUNBUFFERED, as deployed: stdout to a file is block-buffered,
    so what must be seen at once (the admin's token) has to be flushed by the server itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_") and k != "PYTHONUNBUFFERED"}
    env["MODELSHELF_DATA_DIR"] = str(data_dir)
    env.update({f"MODELSHELF_{name}": value for name, value in values.items()})
    return env


def run_modelshelf(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*modelshelf_command(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_first_serve_creates_the_admin_and_prints_its_token_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _serve_env(data_dir)
    with serving(env, tmp_path / "first") as server:
        # The banner is flushed at once, while the server runs (what `docker logs` would show).
        banner = server.stdout()
        tokens = BANNER_TOKEN.findall(banner)
        assert len(tokens) == 1, banner
        (token,) = tokens
        assert TOKEN_SHAPE.fullmatch(token), banner
        assert "Created the admin user 'admin'" in banner and "shown only this once" in banner

        status, body = call(server.base_url + MODELS, token)
        assert status == 200 and body["items"] == [], body
        status, body = call(server.base_url + MODELS)
        assert status == 401 and "authentication required" in body["message"], body
        status, body = call(server.base_url + MODELS, "msh_" + "x" * 43)
        assert status == 401, body
    assert token not in server.stderr()

    # Only its hash was stored.
    raw = b"".join(p.read_bytes() for p in data_dir.glob("modelshelf.db*"))
    assert hashlib.sha256(token.encode()).hexdigest().encode() in raw
    assert token.encode() not in raw

    with serving(env, tmp_path / "second") as server:
        status, _ = call(server.base_url + MODELS, token)
        assert status == 200
    again = server.output()
    assert "Created the admin user" not in again and not BANNER_TOKEN.search(server.stdout()), again
    assert not TOKEN_SHAPE.search(again) and "MODELSHELF_ADMIN_TOKEN" not in again, again

    listed = run_modelshelf(env, "user", "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:3] for line in listed.stdout.splitlines()[1:]] == [["admin", "yes", "no"]]


def test_serve_takes_the_first_admin_token_from_the_environment(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    given = "provisioned-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:40]
    assert len(given) >= 40
    env = _serve_env(data_dir, ADMIN_TOKEN=given)
    with serving(env, tmp_path / "first", "--access-log") as server:
        status, _ = call(server.base_url + MODELS, given)
        assert status == 200
        status, _ = call(server.base_url + MODELS, given + "x")
        assert status == 401
        status, body = call(server.base_url + MODELS, given, "POST", {"name": "m"})
        assert status == 201, body
    output = server.output()
    assert given not in output and given[:16] not in output, output
    assert "Created the admin user" not in output and not BANNER_TOKEN.search(server.stdout()), output
    assert not TOKEN_SHAPE.search(output), output
    raw = b"".join(p.read_bytes() for p in data_dir.glob("modelshelf.db*"))
    assert given.encode() not in raw

    # A later start with another value leaves the database alone, says so, and does not echo either value.
    other = given[::-1]
    with serving(_serve_env(data_dir, ADMIN_TOKEN=other), tmp_path / "second") as server:
        assert call(server.base_url + MODELS, given)[0] == 200
        assert call(server.base_url + MODELS, other)[0] == 401
    output = server.output()
    assert "MODELSHELF_ADMIN_TOKEN is ignored: this database already has users" in server.stderr(), output
    assert given not in output and other not in output, output


@pytest.mark.parametrize("given", ["sh0rt-Secret-Q7", "with a space " + "x" * 40, "x" * 513])
def test_serve_refuses_an_unusable_admin_token(tmp_path: Path, given: str) -> None:
    data_dir = tmp_path / "data"
    env = _serve_env(data_dir, ADMIN_TOKEN=given)
    result = run_modelshelf(env, "serve", "--host", "127.0.0.1", "--port", str(free_port()))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "MODELSHELF_ADMIN_TOKEN must be 32-512 printable ASCII characters without spaces" in result.stderr
    assert given not in result.stdout + result.stderr
    assert given[:10] not in result.stdout + result.stderr
    # No admin was made with a bad secret.
    listed = run_modelshelf(_serve_env(data_dir), "user", "list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[1:] == [], listed


@pytest.mark.parametrize(
    ("flags", "env_host"),
    [(("--host", "0.0.0.0"), None), (("--host", "192.0.2.1"), None), ((), "0.0.0.0"), ((), "::")],
)
def test_no_auth_is_refused_off_loopback(
    tmp_path: Path, flags: tuple[str, ...], env_host: str | None
) -> None:
    data_dir = tmp_path / "data"
    env = _serve_env(data_dir) if env_host is None else _serve_env(data_dir, HOST=env_host)
    started = time.monotonic()
    result = run_modelshelf(env, "serve", "--no-auth", "--port", str(free_port()), *flags, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "refusing --no-auth on" in result.stderr and "loopback address" in result.stderr, result.stderr
    assert result.stdout == ""
    assert time.monotonic() - started < 20
    # It stopped before opening the database, let alone binding a port.
    assert not data_dir.exists() or not list(data_dir.iterdir())


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_no_auth_on_loopback_serves_everyone_and_audits_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _serve_env(data_dir)
    with serving(env, tmp_path / "no-auth", "--no-auth") as server:
        status, body = call(server.base_url + MODELS)
        assert status == 200 and body["items"] == [], body
        status, body = call(server.base_url + MODELS, None, "POST", {"name": "open-model"})
        assert status == 201, body
        model_id = body["id"]
        status, body = call(server.base_url + "/api/admin/v1/users")
        assert status == 403 and "off under --no-auth" in body["message"], body
    assert not TOKEN_SHAPE.search(server.output())  # no admin is bootstrapped without auth
    users = run_modelshelf(env, "user", "list")
    assert users.returncode == 0 and table(users.stdout)[1] == [], users

    trail = run_modelshelf(env, "audit", "list")
    assert trail.returncode == 0, trail.stderr
    _, rows = table(trail.stdout)
    assert [(r["PRINCIPAL"], r["VIA"], r["ACTION"], r["ENTITY"]) for r in rows] == [
        ("-", "no-auth", "create", f"registered_model:{model_id}")
    ]
    trail = run_modelshelf(
        env, "audit", "list", "--via", "no-auth", "--entity", f"registered_model:{model_id}"
    )
    assert trail.returncode == 0 and len(table(trail.stdout)[1]) == 1, trail


def test_no_auth_warning_is_shown_while_serving(tmp_path: Path) -> None:
    """Written at once (flushed), even when stderr is a file and the server is later killed by a signal."""
    with serving(_serve_env(tmp_path / "data"), tmp_path / "no-auth", "--no-auth") as server:
        assert "WARNING: authentication is off (--no-auth)" in server.stderr()
