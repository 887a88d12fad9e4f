"""SQL for users, teams, tokens and the audit trail. Like the rest of the store, nothing here commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from modelshelf.store.repository import Row, fetch_first_compiled, insert_row, update_row
from modelshelf.store.session import Session
from modelshelf.store.tables import api_token, audit_event, team, team_member, user


def _one(conn: Session, query: Select[Any]) -> Row | None:
    row = conn.sql.execute(query).mappings().first()
    return None if row is None else dict(row)


def _all(conn: Session, query: Select[Any]) -> list[Row]:
    return [dict(row) for row in conn.sql.execute(query).mappings()]


def add_user(conn: Session, values: Mapping[str, Any]) -> Row:
    """Insert a user; UniqueViolation if the name is taken (then the transaction is spoiled: raise)."""
    return insert_row(conn, user, values)


def add_team(conn: Session, values: Mapping[str, Any]) -> Row:
    return insert_row(conn, team, values)


def add_token(conn: Session, values: Mapping[str, Any]) -> Row:
    return insert_row(conn, api_token, values)


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


def user_by_name(conn: Session, name: str) -> Row | None:
    return _one(conn, select(user).where(user.c.name == name))


def users(conn: Session) -> list[Row]:
    return _all(conn, select(user).order_by(user.c.name))


def update_user(conn: Session, user_id: int, values: Mapping[str, Any]) -> Row:
    return update_row(conn, user, user_id, values)


def team_by_name(conn: Session, name: str) -> Row | None:
    return _one(conn, select(team).where(team.c.name == name))


def teams(conn: Session) -> list[Row]:
    return _all(conn, select(team).order_by(team.c.name))


def update_team(conn: Session, team_id: int, values: Mapping[str, Any]) -> Row:
    return update_row(conn, team, team_id, values)


def members(conn: Session, team_ids: Sequence[int]) -> list[Row]:
    """Members of these teams with their names and roles, by team and then by name."""
    query = (
        select(team_member.c.team_id, team_member.c.role, user.c.name, user.c.disabled)
        .join(user, user.c.id == team_member.c.user_id)
        .where(team_member.c.team_id.in_(team_ids))
        .order_by(team_member.c.team_id, user.c.name)
    )
    return _all(conn, query)


def _member(team_id: int, user_id: int) -> ColumnElement[bool]:
    return and_(team_member.c.team_id == team_id, team_member.c.user_id == user_id)


def membership(conn: Session, team_id: int, user_id: int) -> Row | None:
    return _one(conn, select(team_member).where(_member(team_id, user_id)))


def set_membership(conn: Session, team_id: int, user_id: int, role: str) -> bool:
    """Add the member or change their role; False if a concurrent writer added them first."""
    if membership(conn, team_id, user_id) is None:
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

_TOKEN_COLUMNS = (*api_token.c, user.c.name.label("user_name"))


def token(conn: Session, token_id: int) -> Row | None:
    query = select(*_TOKEN_COLUMNS).join(user, user.c.id == api_token.c.user_id)
    return _one(conn, query.where(api_token.c.id == token_id))


def token_by_hash(conn: Session, token_hash: str) -> Row | None:
    return _one(conn, select(api_token).where(api_token.c.token_hash == token_hash))


def tokens(conn: Session, user_id: int | None) -> list[Row]:
    query = select(*_TOKEN_COLUMNS).join(user, user.c.id == api_token.c.user_id)
    if user_id is not None:
        query = query.where(api_token.c.user_id == user_id)
    return _all(conn, query.order_by(api_token.c.id))


def update_token(conn: Session, token_id: int, values: Mapping[str, Any]) -> Row:
    return update_row(conn, api_token, token_id, values)


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


# --- audit ---------------------------------------------------------------------------------------------


_INSERT_AUDIT = insert(audit_event)


def insert_audit(conn: Session, values: Mapping[str, Any]) -> None:
    # Values as parameters of one constant statement: `.values(**values)` would make SQLAlchemy build a
    # new statement and its cache key on every write, which cost more than the INSERT itself.
    conn.sql.execute(_INSERT_AUDIT, dict(values))


def audit_events(
    conn: Session,
    *,
    principal: str | None,
    via: str | None,
    entity_type: str | None,
    entity_id: str | None,
    before_id: int | None,
    limit: int,
) -> list[Row]:
    """Newest first, at most `limit`, only events older than `before_id` when given."""
    c = audit_event.c
    wanted = ((c.principal, principal), (c.via, via), (c.entity_type, entity_type), (c.entity_id, entity_id))
    conditions = [column == value for column, value in wanted if value is not None]
    if before_id is not None:
        conditions.append(c.id < before_id)
    query = select(audit_event).where(and_(True, *conditions)).order_by(audit_event.c.id.desc())
    return _all(conn, query.limit(limit))
