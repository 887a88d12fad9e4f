"""The audit trail: every write says who did what to which entity, in the same transaction as the write.

Writing the event in the write's own transaction means there is never a change without its event, nor an
event for a change that was rolled back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from modelshelf.auth.principal import Principal
from modelshelf.domain.entities import INT32_MAX
from modelshelf.errors import InvalidArgument
from modelshelf.services.clock import clock
from modelshelf.store import accounts
from modelshelf.store.repository import Row
from modelshelf.store.session import Session

MAX_PAGE = 1000
_TOKEN = re.compile(r"[0-9]{1,10}")
DEFAULT_PAGE = 100


def record(
    conn: Session,
    actor: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    detail: Mapping[str, Any] | None = None,
) -> None:
    accounts.insert_audit(
        conn,
        {
            "time": clock.now(),
            "principal": actor.name,
            "token_id": actor.token_id,
            "via": actor.via,
            "action": action,
            "entity_type": entity_type,
            "entity_id": None if entity_id is None else str(entity_id),
            "detail": None if not detail else orjson.dumps(detail).decode(),
        },
    )


@dataclass(frozen=True)
class AuditQuery:
    principal: str | None = None
    via: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    page_size: int = DEFAULT_PAGE
    page_token: str = ""  # the id of the last event of the previous page


@dataclass(frozen=True)
class AuditPage:
    events: list[Row]
    next_page_token: str


def events(conn: Session, query: AuditQuery) -> AuditPage:
    """Newest first; the page token is the id of the oldest event already seen."""
    if not 1 <= query.page_size <= MAX_PAGE:
        raise InvalidArgument(f"the page size must be between 1 and {MAX_PAGE}")
    before: int | None = None
    if query.page_token:
        if not _TOKEN.fullmatch(query.page_token):
            raise InvalidArgument("invalid nextPageToken")
        before = int(query.page_token)
        if before > INT32_MAX:
            before = None  # older than an id past every id: everything
    if query.entity_id is not None and query.entity_type is None:
        raise InvalidArgument("an entity id needs an entity type (entity=<type>:<id>)")
    rows = accounts.audit_events(
        conn,
        principal=query.principal,
        via=query.via,
        entity_type=query.entity_type,
        entity_id=query.entity_id,
        before_id=before,
        limit=query.page_size + 1,
    )
    if len(rows) > query.page_size:
        rows = rows[: query.page_size]
        return AuditPage(rows, str(rows[-1]["id"]))
    return AuditPage(rows, "")


def parse_entity(text: str) -> tuple[str, str | None]:
    """`type` or `type:id`, as the API and CLI take it."""
    entity_type, _, entity_id = text.partition(":")
    if not entity_type:
        raise InvalidArgument("entity must be <type> or <type>:<id>")
    return entity_type, entity_id or None
