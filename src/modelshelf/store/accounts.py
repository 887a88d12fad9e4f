"""SQL for users, teams and tokens, returned as typed rows. Like the rest of the store, nothing here commits.

The audit trail has its own store (store.audit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from modelshelf.store.repository import fetch_first_compiled, insert_row, update_row
from modelshelf.store.session import Session
from modelshelf.store.tables import api_token, team, team_member, user

R = TypeVar("R", bound=tuple[Any, ...])


class UserRow(NamedTuple):
    id: int
    name: str
    is_admin: bool
    disabled: bool
    create_time: int


class TeamRow(NamedTuple):
    id: int
    name: str
    disabled: bool
    create_time: int


class MemberRow(NamedTuple):
    team_id: int
    role: str  # owner | member
    name: str  # the user's
    disabled: bool  # the user's


class TokenRow(NamedTuple):
    """A token as it is listed and shown: never its hash."""

    id: int
    user_id: int
    user_name: str
    name: str
    display_prefix: str
    scopes: str  # space-separated
    create_time: int
    expire_time: int | None
    last_used_time: int | None
    revoke_time: int | None


def _one(conn: Session, query: Select[Any], kind: Callable[..., R]) -> R | None:
    row = conn.sql.execute(query).mappings().first()
    return None if row is None else kind(**row)


def _all(conn: Session, query: Select[Any], kind: Callable[..., R]) -> list[R]:
    return [kind(**row) for row in conn.sql.execute(query).mappings()]


def add_user(conn: Session, values: Mapping[str, Any]) -> UserRow:
    """Insert a user; UniqueViolation if the name is taken (then the transaction is spoiled: raise)."""
    return UserRow(**insert_row(conn, user, values))


def add_team(conn: Session, values: Mapping[str, Any]) -> TeamRow:
    return TeamRow(**insert_row(conn, team, values))


def add_token(conn: Session, values: Mapping[str, Any], user_name: str) -> TokenRow:
    row = insert_row(conn, api_token, values)
    return TokenRow(**{f: row[f] for f in TokenRow._fields if f != "user_name"}, user_name=user_name)


# --- users and teams -----------------------------------------------------------------------------------


_NAMES_LOCK = 0x6D736873_6E616D65  # 'mshsname': an arbitrary key of this app's own


def lock_names(conn: Session) -> None:
    """Hold, until the transaction ends, the right to take a name that users and teams share.

    Each table has its own unique index, but nothing in the database stops a user and a team from taking
    the same name at once. On SQLite a write transaction already excludes all others; on PostgreSQL this
    takes a transaction-scoped advisory lock, so a concurrent creator waits, then sees the committed name.
    """
    if conn.dialect.name == "postgresql":
        conn.sql.execute(select(func.pg_advisory_xact_lock(_NAMES_LOCK)))


def count_users(conn: Session) -> int:
    return int(conn.sql.execute(select(func.count()).select_from(user)).scalar_one())


def user_by_name(conn: Session, name: str) -> UserRow | None:
    return _one(conn, select(user).where(user.c.name == name), UserRow)


def users(conn: Session) -> list[UserRow]:
    return _all(conn, select(user).order_by(user.c.name), UserRow)


def update_user(conn: Session, user_id: int, values: Mapping[str, Any]) -> UserRow:
    return UserRow(**update_row(conn, user, user_id, values))


def team_by_name(conn: Session, name: str) -> TeamRow | None:
    return _one(conn, select(team).where(team.c.name == name), TeamRow)


def teams(conn: Session) -> list[TeamRow]:
    return _all(conn, select(team).order_by(team.c.name), TeamRow)


def update_team(conn: Session, team_id: int, values: Mapping[str, Any]) -> TeamRow:
    return TeamRow(**update_row(conn, team, team_id, values))


def members(conn: Session, team_ids: Sequence[int]) -> list[MemberRow]:
    """Members of these teams with their names and roles, by team and then by name."""
    query = (
        select(team_member.c.team_id, team_member.c.role, user.c.name, user.c.disabled)
        .join(user, user.c.id == team_member.c.user_id)
        .where(team_member.c.team_id.in_(team_ids))
        .order_by(team_member.c.team_id, user.c.name)
    )
    return _all(conn, query, MemberRow)


def _member(team_id: int, user_id: int) -> ColumnElement[bool]:
    return and_(team_member.c.team_id == team_id, team_member.c.user_id == user_id)


def _is_member(conn: Session, team_id: int, user_id: int) -> bool:
    return bool(conn.sql.execute(select(exists().where(_member(team_id, user_id)))).scalar())


def set_membership(conn: Session, team_id: int, user_id: int, role: str) -> bool:
    """Add the member or change their role; False if a concurrent writer added them first."""
    if not _is_member(conn, team_id, user_id):
        try:
            with conn.sql.begin_nested():
                conn.sql.execute(insert(team_member).values(team_id=team_id, user_id=user_id, role=role))
            return True
        except IntegrityError:
            return False
    conn.sql.execute(update(team_member).where(_member(team_id, user_id)).values(role=role))
    return True


def remove_membership(conn: Session, team_id: int, user_id: int) -> bool:
    result = conn.sql.execute(delete(team_member).where(_member(team_id, user_id)))
    return bool(result.rowcount)


# --- tokens --------------------------------------------------------------------------------------------

_TOKEN_COLUMNS = [
    user.c.name.label(field) if field == "user_name" else api_token.c[field] for field in TokenRow._fields
]


def _tokens() -> Select[Any]:
    return select(*_TOKEN_COLUMNS).join(user, user.c.id == api_token.c.user_id)


def token(conn: Session, token_id: int) -> TokenRow | None:
    return _one(conn, _tokens().where(api_token.c.id == token_id), TokenRow)


def hash_exists(conn: Session, token_hash: str) -> bool:
    query = select(exists().where(api_token.c.token_hash == token_hash))
    return bool(conn.sql.execute(query).scalar())


def tokens(conn: Session, user_id: int | None) -> list[TokenRow]:
    query = _tokens()
    if user_id is not None:
        query = query.where(api_token.c.user_id == user_id)
    return _all(conn, query.order_by(api_token.c.id), TokenRow)


def revoke_token(conn: Session, token_id: int, now: int) -> None:
    conn.sql.execute(update(api_token).where(api_token.c.id == token_id).values(revoke_time=now))


class LiveToken(NamedTuple):
    id: int
    user_id: int
    scopes: str
    expire_time: int | None
    last_used_time: int | None
    user_name: str
    is_admin: bool


def _live_token_query() -> Select[Any]:
    """The token with a hash, unless revoked or its user disabled (expiry is checked by the caller)."""
    return (
        select(
            api_token.c.id,
            api_token.c.user_id,
            api_token.c.scopes,
            api_token.c.expire_time,
            api_token.c.last_used_time,
            user.c.name,
            user.c.is_admin,
        )
        .join(user, user.c.id == api_token.c.user_id)
        .where(
            api_token.c.token_hash == bindparam("token_hash"),
            api_token.c.revoke_time.is_(None),
            user.c.disabled == false(),
        )
    )


def live_token(conn: Session, token_hash: str) -> LiveToken | None:
    """The token with this hash, unless revoked or its user disabled: one indexed query (the caller checks
    expiry, which needs no query)."""
    row = fetch_first_compiled(conn, "live_token", _live_token_query, {"token_hash": token_hash})
    return None if row is None else LiveToken(*row)


def mark_used(conn: Session, token_id: int, now: int, not_since: int) -> None:
    """Record a use, unless one was recorded after `not_since` (another process may have just done it)."""
    conn.sql.execute(
        update(api_token)
        .where(
            api_token.c.id == token_id,
            or_(api_token.c.last_used_time.is_(None), api_token.c.last_used_time <= not_since),
        )
        .values(last_used_time=now)
    )
