"""Tokens are checked afresh on every request, even when the lookup keeps what it found in memory.

On SQLite the lookup keeps live tokens until anything is committed to the database (PRAGMA data_version),
so these tests warm it up first, then change the database from outside the server (a connection of its
own, as another process or the CLI would) and expect the very next request to see the change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from modelshelf.auth.principal import CLI
from modelshelf.auth.tokens import token_hash
from modelshelf.services import accounts
from modelshelf.store.accounts import TokenLookup
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
    lookup = TokenLookup(database)
    with database.write() as conn:
        conn.sql.execute(text("UPDATE api_token SET expire_time = 5000 WHERE name = 'laptop'"))
    hashed = token_hash(member_token)
    assert lookup.find(hashed, now=4999) is not None
    assert lookup.find(hashed, now=5000) is None  # the same kept row, now past its expiry
    database.dispose()


def test_unknown_tokens_are_not_kept(engine: Engine) -> None:
    database = Database(engine)
    lookup = TokenLookup(database)
    for i in range(50):
        assert lookup.find(f"{i:064x}", now=0) is None
    assert lookup._kept == {}
    database.dispose()


def test_a_noted_use_is_remembered_without_asking_the_database_again(
    engine: Engine, member_token: str
) -> None:
    """Another process may have recorded the use already, so our UPDATE changes nothing and the file's
    version stays put: the kept row must learn the time anyway, or every request would try again."""
    database = Database(engine)
    lookup = TokenLookup(database)
    hashed = token_hash(member_token)
    found = lookup.find(hashed, now=0)
    assert found is not None and found.last_used_time is None
    lookup.noted_use(hashed, 123)
    again = lookup.find(hashed, now=0)
    assert again is not None
    expected = 123 if engine.dialect.name == "sqlite" else None  # PostgreSQL keeps nothing: it reads the row
    assert again.last_used_time == expected
    database.dispose()
