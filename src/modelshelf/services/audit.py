"""The audit trail: every write says who did what to which entity, in the same transaction as the write.

Writing the event in the write's own transaction means there is never a change without its event, nor an
event for a change that was rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelshelf.auth.principal import Principal
from modelshelf.errors import InvalidArgument
from modelshelf.services.clock import clock
from modelshelf.store import audit as store
from modelshelf.store.audit import AuditEventRow
from modelshelf.store.session import Session

MAX_PAGE = 1000
DEFAULT_PAGE = 100


def record(
    conn: Session,
    actor: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    detail: Mapping[str, Any] | None = None,
) -> None:
    store.insert_event(
        conn,
        time=clock.now(),
        principal=actor.name,
        token_id=actor.token_id,
        via=actor.via,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        detail=detail,
    )


@dataclass(frozen=True)
class AuditQuery:
    principal: str | None = None
    via: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    page_size: int = DEFAULT_PAGE
    before: int | None = None  # only events older than this id: the last of the previous page


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEventRow]
    next_before: int | None  # where the next page starts; None when this is the last


def events(conn: Session, query: AuditQuery) -> AuditPage:
    """Newest first, continuing after the oldest event already seen (`query.before`)."""
    if not 1 <= query.page_size <= MAX_PAGE:
        raise InvalidArgument(f"the page size must be between 1 and {MAX_PAGE}")
    if query.entity_id is not None and query.entity_type is None:
        raise InvalidArgument("an entity id needs an entity type (entity=<type>:<id>)")
    rows = store.events(
        conn,
        principal=query.principal,
        via=query.via,
        entity_type=query.entity_type,
        entity_id=query.entity_id,
        before_id=query.before,
        limit=query.page_size + 1,
    )
    if len(rows) > query.page_size:
        rows = rows[: query.page_size]
        return AuditPage(rows, rows[-1].id)
    return AuditPage(rows, None)


def parse_entity(text: str) -> tuple[str, str | None]:
    """`type` or `type:id`, as the API and CLI take it."""
    entity_type, _, entity_id = text.partition(":")
    if not entity_type:
        raise InvalidArgument("entity must be <type> or <type>:<id>")
    return entity_type, entity_id or None
