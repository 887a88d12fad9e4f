"""Tokens are checked afresh on every request: one indexed query each, nothing kept in between.

These tests use a token first, then change the database from outside the server (a connection of its
own, as another process or the CLI would) and expect the very next request to see the change.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from modelshelf.auth.principal import CLI, Principal
from modelshelf.errors import Unauthenticated
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


def _principal(authenticator: Authenticator, token: str) -> Principal:
    return asyncio.run(authenticator.authenticate(f"Bearer {token}"))


def test_expiry_needs_no_write_to_take_effect(engine: Engine, member_token: str) -> None:
    database = Database(engine)
    authenticator = Authenticator(database)
    assert _principal(authenticator, member_token).name == "pat"
    soon = time.time_ns() // 1_000_000 + 1500
    with database.write() as conn:
        conn.sql.execute(text(f"UPDATE api_token SET expire_time = {soon} WHERE name = 'laptop'"))
    assert _principal(authenticator, member_token).name == "pat"
    time.sleep(1.6)
    with pytest.raises(Unauthenticated):
        _principal(authenticator, member_token)
    database.dispose()


def test_a_use_is_written_once_a_minute(engine: Engine, member_token: str) -> None:
    """The first request writes the token's last use; the next ones within the minute write nothing."""
    database = Database(engine)
    authenticator = Authenticator(database)

    def last_used() -> int | None:
        with database.read() as conn:
            value = conn.sql.execute(text("SELECT last_used_time FROM api_token")).scalar_one()
            return None if value is None else int(value)

    before = time.time_ns() // 1_000_000
    _principal(authenticator, member_token)
    first = last_used()
    assert first is not None and first >= before
    for _ in range(5):
        _principal(authenticator, member_token)
    assert last_used() == first
    database.dispose()


def test_a_locked_database_does_not_hold_up_the_use_record(engine: Engine, member_token: str) -> None:
    """The last-use write never waits: with another writer holding SQLite's lock, the request is let in
    at once and the use is noted later."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    database = Database(engine)
    authenticator = Authenticator(database)
    path = engine.url.database
    assert path is not None
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert _principal(authenticator, member_token).name == "pat"
        assert time.monotonic() - started < 1.0
        holder.execute("ROLLBACK")
    database.dispose()
