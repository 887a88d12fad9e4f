"""SQL of the audit trail. Like the rest of the store, nothing here commits: an event is written in the
transaction of the change it records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
from sqlalchemy import RowMapping, and_, insert, select

from modelshelf.store.session import Session
from modelshelf.store.tables import audit_event


class AuditEventRow(NamedTuple):
    id: int
    time: int
    principal: str | None  # the user's name; None for the CLI and --no-auth
    token_id: int | None
    via: str  # api | cli | no-auth
    action: str
    entity_type: str
    entity_id: str | None
    detail: dict[str, Any] | None


_INSERT = insert(audit_event)


def insert_event(
    conn: Session,
    *,
    time: int,
    principal: str | None,
    token_id: int | None,
    via: str,
    action: str,
    entity_type: str,
    entity_id: str | None,
    detail: Mapping[str, Any] | None,
) -> None:
    values = {
        "time": time,
        "principal": principal,
        "token_id": token_id,
        "via": via,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "detail": None if not detail else orjson.dumps(detail).decode(),  # a JSON object in a text column
    }
    # Values as parameters of one constant statement: `.values(**values)` would make SQLAlchemy build a
    # new statement and its cache key on every write, which cost more than the INSERT itself.
    conn.sql.execute(_INSERT, values)


def events(
    conn: Session,
    *,
    principal: str | None,
    via: str | None,
    entity_type: str | None,
    entity_id: str | None,
    before_id: int | None,
    limit: int,
) -> list[AuditEventRow]:
    """Newest first, at most `limit`, only events older than `before_id` when given."""
    c = audit_event.c
    wanted = ((c.principal, principal), (c.via, via), (c.entity_type, entity_type), (c.entity_id, entity_id))
    conditions = [column == value for column, value in wanted if value is not None]
    if before_id is not None:
        conditions.append(c.id < before_id)
    query = select(audit_event).where(and_(True, *conditions)).order_by(c.id.desc()).limit(limit)
    return [_event(row) for row in conn.sql.execute(query).mappings()]


def _event(row: RowMapping) -> AuditEventRow:
    detail = row["detail"]
    return AuditEventRow(**{**row, "detail": None if detail is None else orjson.loads(detail)})
