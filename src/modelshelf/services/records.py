"""Rules every registry entity shares: defaults, names, uniqueness, timestamps, merge-on-update, finds.

Values come in and go out keyed by column name, already checked for type by the face that received them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from modelshelf.domain.entities import NAME_MAX, Entity, Kind
from modelshelf.domain.properties import property_values
from modelshelf.errors import Conflict, InvalidArgument, MissingField, NotFound, shown
from modelshelf.services.clock import clock
from modelshelf.store import repository
from modelshelf.store.repository import ListQuery, Page, Row, dumps
from modelshelf.store.session import Session


def encode(entity: Entity, values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values as stored: lists and property maps become JSON text."""
    out = dict(values)
    for f in entity.fields:
        if f.column in out and f.kind in (Kind.PROPS, Kind.STR_LIST) and out[f.column] is not None:
            out[f.column] = dumps(out[f.column])
    return out


def create(conn: Session, entity: Entity, values: Mapping[str, Any]) -> Row:
    # An empty externalId is no external id: otherwise a second "" would be a conflict.
    given = {c: v for c, v in values.items() if v is not None and (c, v) != ("external_id", "")}
    row = {**entity.defaults, **given}
    name = row.get("name")
    if not name:
        if entity.name_required:
            raise MissingField("required field 'name' is zero value.")
        row["name"] = name = str(uuid.uuid4())
    scope = {entity.parent: row.get(entity.parent)} if entity.parent else {}
    check_name_length(name, row.get(entity.parent) if entity.parent else None)
    properties = row.get("custom_properties") or {}
    row["custom_properties"] = properties
    row["create_time"] = row["last_update_time"] = clock.now()
    with _as_conflict(entity, row, scope):
        stored = repository.insert_row(conn, repository.table_of(entity), encode(entity, row))
    repository.replace_properties(conn, entity.table, stored["id"], property_values(properties), new=True)
    return stored


def update(conn: Session, entity: Entity, id_: int, values: Mapping[str, Any]) -> Row:
    """Merge `values` field by field onto the stored row; absent fields keep their value.

    `customProperties`, when sent, replaces the whole map. The update time moves forward even when
    nothing else changed (the UI "touches" entities that way).
    """
    return update_row(conn, entity, must_get(conn, entity, id_), values)


def update_row(conn: Session, entity: Entity, current: Row, values: Mapping[str, Any]) -> Row:
    changes = {c: v for c, v in values.items() if v is not None}
    if changes.get("external_id") == "":
        changes["external_id"] = None  # "" clears it, as it never sets one (see create)
    table = repository.table_of(entity)
    encoded = encode(entity, changes)
    encoded["last_update_time"] = repository.later_than_stored(table, clock.now())
    with _as_conflict(entity, changes, {}):
        stored = repository.update_row(conn, table, current["id"], encoded)
    if "custom_properties" in changes:
        repository.replace_properties(
            conn, entity.table, current["id"], property_values(changes["custom_properties"])
        )
    return stored


@contextmanager
def _as_conflict(entity: Entity, values: Mapping[str, Any], scope: Mapping[str, Any]) -> Iterator[None]:
    try:
        yield
    except repository.UniqueViolation as exc:
        if exc.column == "external_id":
            raise Conflict(
                f"{entity.name} with externalId {values.get('external_id')!r} already exists"
            ) from exc
        where = "".join(f" in {k.removesuffix('_id').replace('_', ' ')} {v}" for k, v in scope.items())
        raise Conflict(f"{entity.name} with name {values.get('name')!r} already exists{where}") from exc


def get(conn: Session, entity: Entity, id_: int) -> Row | None:
    return repository.get(conn, entity, id_)


def must_get(conn: Session, entity: Entity, id_: int) -> Row:
    row = repository.get(conn, entity, id_)
    if row is None:
        raise NotFound(f"{entity.name} with id {id_} not found")
    return row


def require_parent(conn: Session, parent: Entity, id_: int) -> Row:
    return must_get(conn, parent, id_)


def find_one(
    conn: Session, entity: Entity, where: Mapping[str, Any], *, model_version_id: int | None = None
) -> Row:
    rows = repository.find(conn, entity, where, model_version_id=model_version_id)
    wire = {f.column: f.api for f in entity.fields}
    described = ", ".join(f"{wire.get(k, k)}={shown(v)}" for k, v in where.items())
    if model_version_id is not None:
        described += f", parentResourceId={model_version_id}"
    if not rows:
        raise NotFound(f"no {entity.name} found for {described}")
    if len(rows) > 1:
        raise NotFound(f"multiple {entity.name}s found for {described}")
    return rows[0]


def find_where(name: str | None, external_id: str | None) -> dict[str, Any]:
    where: dict[str, Any] = {}
    if name is not None:
        where["name"] = name
    if external_id is not None:
        where["external_id"] = external_id
    return where


def list_page(conn: Session, entity: Entity, query: ListQuery, filter_entity: Entity | None = None) -> Page:
    return repository.list_page(conn, entity, query, filter_entity=filter_entity)


def check_name_length(name: str, parent: Any) -> None:
    # Upstream stores child names as "<parentId>:<name>" in 255 characters; keep names portable to it.
    limit = NAME_MAX - (len(str(parent)) + 1 if parent is not None else 0)
    if len(name) > limit:
        raise InvalidArgument(f"name is {len(name)} characters long; at most {limit} are allowed here")
