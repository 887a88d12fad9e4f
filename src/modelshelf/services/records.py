"""Rules every registry entity shares: defaults, names, uniqueness, timestamps, merge-on-update, finds.

Values come in and go out keyed by column name, already checked for type by the face that received them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, RowMapping

from modelshelf.domain.entities import NAME_MAX, Entity, Kind
from modelshelf.errors import Conflict, InvalidArgument, MissingField, NotFound
from modelshelf.services.clock import clock
from modelshelf.store import repository
from modelshelf.store.repository import ListQuery, Page, dumps


def encode(entity: Entity, values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values as stored: lists and property maps become JSON text."""
    out = dict(values)
    for f in entity.fields:
        if f.column in out and f.kind in (Kind.PROPS, Kind.STR_LIST) and out[f.column] is not None:
            out[f.column] = dumps(out[f.column])
    return out


def create(conn: Connection, entity: Entity, values: Mapping[str, Any]) -> RowMapping:
    row = {**entity.defaults, **{c: v for c, v in values.items() if v is not None}}
    name = row.get("name")
    if not name:
        if entity.name_required:
            raise MissingField("required field 'name' is zero value.")
        row["name"] = name = str(uuid.uuid4())
    parent = row.get(entity.parent) if entity.parent else None
    check_name_length(name, parent)
    check_unique_name(conn, entity, name, {entity.parent: parent} if entity.parent else {})
    if row.get("external_id") is not None:
        check_unique_external_id(conn, entity, row["external_id"])
    properties = row.get("custom_properties") or {}
    row["custom_properties"] = properties
    row["create_time"] = row["last_update_time"] = clock.now()
    new_id = repository.insert_row(conn, repository.table_of(entity), encode(entity, row))
    repository.replace_properties(conn, entity.table, new_id, properties)
    return must_get(conn, entity, new_id)


def update(conn: Connection, entity: Entity, id_: int, values: Mapping[str, Any]) -> RowMapping:
    """Merge `values` field by field onto the stored row; absent fields keep their value.

    `customProperties`, when sent, replaces the whole map. The update time moves forward even when
    nothing else changed (the UI "touches" entities that way).
    """
    current = must_get(conn, entity, id_)
    return update_row(conn, entity, current, values)


def update_row(
    conn: Connection, entity: Entity, current: RowMapping, values: Mapping[str, Any]
) -> RowMapping:
    changes = {c: v for c, v in values.items() if v is not None}
    external_id = changes.get("external_id")
    if external_id is not None and external_id != current["external_id"]:
        check_unique_external_id(conn, entity, external_id)
    changes["last_update_time"] = clock.after(current["last_update_time"])
    repository.update_row(conn, repository.table_of(entity), current["id"], encode(entity, changes))
    if "custom_properties" in changes:
        repository.replace_properties(conn, entity.table, current["id"], changes["custom_properties"])
    return must_get(conn, entity, current["id"])


def get(conn: Connection, entity: Entity, id_: int) -> RowMapping | None:
    return repository.get(conn, entity, id_)


def must_get(conn: Connection, entity: Entity, id_: int) -> RowMapping:
    row = repository.get(conn, entity, id_)
    if row is None:
        raise NotFound(f"{entity.name} with id {id_} not found")
    return row


def require_parent(conn: Connection, parent: Entity, id_: int) -> RowMapping:
    return must_get(conn, parent, id_)


def find_one(
    conn: Connection, entity: Entity, where: Mapping[str, Any], *, model_version_id: int | None = None
) -> RowMapping:
    rows = repository.find(conn, entity, where, model_version_id=model_version_id)
    described = ", ".join(f"{k}={v}" for k, v in where.items())
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


def list_page(
    conn: Connection, entity: Entity, query: ListQuery, filter_entity: Entity | None = None
) -> Page:
    return repository.list_page(conn, entity, query, filter_entity=filter_entity)


def check_name_length(name: str, parent: Any) -> None:
    # Upstream stores child names as "<parentId>:<name>" in 255 characters; keep names portable to it.
    limit = NAME_MAX - (len(str(parent)) + 1 if parent is not None else 0)
    if len(name) > limit:
        raise InvalidArgument(f"name is {len(name)} characters long; at most {limit} are allowed here")


def check_unique_name(conn: Connection, entity: Entity, name: str, scope: Mapping[str, Any]) -> None:
    if entity.table == "artifact":
        return  # artifact names are unique per model version and type: see repository.link_artifact
    if repository.find(conn, entity, {"name": name, **scope}):
        where = (
            ""
            if not scope
            else f" in {' '.join(k.removesuffix('_id').replace('_', ' ') for k in scope)} "
            + (", ".join(str(v) for v in scope.values()))
        )
        raise Conflict(f"{entity.name} with name {name!r} already exists{where}")


def check_unique_external_id(conn: Connection, entity: Entity, external_id: str) -> None:
    table = repository.table_of(entity)
    if repository.find_in_table(conn, table, {"external_id": external_id}):
        raise Conflict(f"{entity.name} with externalId {external_id!r} already exists")
