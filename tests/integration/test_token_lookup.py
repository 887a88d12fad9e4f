"""Tokens are checked afresh on every request, even when the lookup keeps what it found in memory.

On SQLite the lookup keeps live tokens until anything is committed to the database (store.commits), so
these tests warm it up first, then change the database from outside the server (a connection of its
own, as another process or the CLI would) and expect the very next request to see the change.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from modelshelf.auth.principal import CLI
from modelshelf.errors import Unavailable
from modelshelf.services import accounts
from modelshelf.services.authn import Authenticator
from modelshelf.store.session import Database

MODELS = "/api/model_registry/v1/registered_models"


@pytest.fixture
def member_token(engine: Engine) -> str:
    with Database(engine).write() as conn:
        accounts.create_user(conn, "pat", admin=True, actor=CLI)
        _, secret = accounts.create_token(conn, "pat", "laptop", ["admin"], actor=CLI)
    return secret


@pytest.fixture
def outside(engine: Engine, database_url: str) -> Iterator[object]:
    """Run one SQL statement the way another process would: its own connection, committed at once."""
    if engine.dialect.name == "sqlite":
        path = database_url.removeprefix("sqlite:///")

        def run_sqlite(sql: str) -> None:
            with closing(sqlite3.connect(path, isolation_level=None)) as connection:
                connection.execute(sql)

        yield run_sqlite
    else:
        other = Database(engine)

        def run_postgres(sql: str) -> None:
            with other.write() as conn:
                conn.sql.execute(text(sql))

        yield run_postgres


def _warm(client: TestClient, headers: dict[str, str]) -> None:
    for _ in range(3):
        assert client.get(MODELS, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("change", "undo", "refused"),
    [
        ("UPDATE api_token SET revoke_time = 1 WHERE name = 'laptop'", None, 401),
        ("UPDATE api_token SET expire_time = 1 WHERE name = 'laptop'", None, 401),
        (
            "UPDATE user_account SET disabled = true WHERE name = 'pat'",
            "UPDATE user_account SET disabled = false WHERE name = 'pat'",
            401,
        ),
        (
            "UPDATE user_account SET is_admin = false WHERE name = 'pat'",
            "UPDATE user_account SET is_admin = true WHERE name = 'pat'",
            403,
        ),
    ],
    ids=["revoked", "expired", "user disabled", "admin right lost"],
)
def test_a_change_from_outside_is_seen_on_the_next_request(
    anonymous: TestClient, member_token: str, outside: object, change: str, undo: str | None, refused: int
) -> None:
    run = outside
    assert callable(run)
    headers = {"Authorization": f"Bearer {member_token}"}
    _warm(anonymous, headers)
    run(change)
    assert anonymous.get(MODELS, headers=headers).status_code == refused
    if undo is not None:
        run(undo)
        assert anonymous.get(MODELS, headers=headers).status_code == 200


def test_a_change_through_the_api_is_seen_on_the_next_request(
    anonymous: TestClient, client: TestClient
) -> None:
    made = client.post(
        "/api/admin/v1/tokens", json={"user": "admin", "name": "ci", "scopes": ["models:read"]}
    )
    headers = {"Authorization": f"Bearer {made.json()['token']}"}
    _warm(anonymous, headers)
    assert client.delete(f"/api/admin/v1/tokens/{made.json()['id']}").status_code == 200
    assert anonymous.get(MODELS, headers=headers).status_code == 401


def test_expiry_needs_no_write_to_take_effect(engine: Engine, member_token: str) -> None:
    database = Database(engine)
    authenticator = Authenticator(database)
    with database.write() as conn:
        conn.sql.execute(text("UPDATE api_token SET expire_time = 5000 WHERE name = 'laptop'"))
    assert authenticator.find(member_token, now=4999) is not None
    assert authenticator.find(member_token, now=5000) is None  # the same kept row, now past its expiry
    database.dispose()


def test_unknown_tokens_are_not_kept(engine: Engine) -> None:
    database = Database(engine)
    authenticator = Authenticator(database)
    for i in range(50):
        assert authenticator.find(f"msh_{i:043x}", now=0) is None
    assert authenticator._kept == {}
    database.dispose()


def test_a_use_is_written_once_a_minute(engine: Engine, member_token: str) -> None:
    """The first request writes the token's last use; the next ones within the minute write nothing (on
    SQLite, not even an empty commit: the commit marker stays put)."""
    database = Database(engine)
    authenticator = Authenticator(database)
    header = f"Bearer {member_token}"

    def last_used() -> int | None:
        with database.read() as conn:
            value = conn.sql.execute(text("SELECT last_used_time FROM api_token")).scalar_one()
            return None if value is None else int(value)

    before = time.time_ns() // 1_000_000
    authenticator.authenticate(header)
    first = last_used()
    assert first is not None and first >= before
    if engine.dialect.name == "sqlite":
        marker = database.commit_marker()
    for _ in range(5):
        authenticator.authenticate(header)
    assert last_used() == first
    if engine.dialect.name == "sqlite":
        assert database.commit_marker() == marker
        assert authenticator._kept[member_token].last_used_time == first
    database.dispose()


def test_what_was_kept_is_forgotten_when_the_database_cannot_be_asked(
    engine: Engine, member_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A marker read after the failure belongs to a new connection and cannot vouch for the old rows."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps nothing")
    database = Database(engine)
    authenticator = Authenticator(database)
    assert authenticator.find(member_token, now=0) is not None
    assert member_token in authenticator._kept

    def unavailable() -> object:
        raise Unavailable("the database is unavailable, try again later")

    monkeypatch.setattr(database, "commit_marker", unavailable)
    with pytest.raises(Unavailable):
        authenticator.find(member_token, now=0)
    assert authenticator._kept == {}
    database.dispose()
