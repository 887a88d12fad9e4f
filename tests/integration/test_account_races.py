"""Users and teams share one namespace of names, even when two processes create them at the same moment.

The second creator runs in a thread on a connection of its own, as another server process or the CLI
would, while the first creator's transaction is still open: it must wait for it, then see the name taken.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from modelshelf.auth.principal import CLI
from modelshelf.errors import Conflict
from modelshelf.services import accounts
from modelshelf.store.session import Database

WAITS_AT_LEAST_S = 0.5


def _in_thread(work: Callable[[], None]) -> tuple[threading.Thread, dict[str, BaseException]]:
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test, which asserts on it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("first_kind", ["user", "team"])
def test_a_user_and_a_team_cannot_take_one_name_at_once(engine: Engine, first_kind: str) -> None:
    first, second = Database(engine), Database(engine)

    def create(database: Database, kind: str) -> None:
        with database.write() as conn:
            if kind == "user":
                accounts.create_user(conn, "shared", admin=False, actor=CLI)
            else:
                accounts.create_team(conn, "shared", actor=CLI)

    other_kind = "team" if first_kind == "user" else "user"
    try:
        with first.write() as conn:
            if first_kind == "user":
                accounts.create_user(conn, "shared", admin=False, actor=CLI)
            else:
                accounts.create_team(conn, "shared", actor=CLI)
            thread, outcome = _in_thread(lambda: create(second, other_kind))
            thread.join(WAITS_AT_LEAST_S)
            assert thread.is_alive(), "the second creator did not wait for the first transaction"
        thread.join(10)
        assert not thread.is_alive()
        error = outcome.get("error")
        assert isinstance(error, Conflict), error
        assert str(error) == f"a {first_kind} named 'shared' already exists"
        with first.read() as conn:
            names = [row.name for row in accounts.list_users(conn)]
            teams = [team.row.name for team in accounts.list_teams(conn)]
        assert (names.count("shared"), teams.count("shared")) == ((1, 0) if first_kind == "user" else (0, 1))
    finally:
        first.dispose()
        second.dispose()
