"""Artifacts of every type: standalone, linked to model versions, and the nested upsert."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from modelshelf.domain.entities import ANY_ARTIFACT, ARTIFACTS, METRIC, MODEL_VERSION, PARAMETER, Entity
from modelshelf.errors import Conflict, InvalidArgument, NotFound
from modelshelf.services import records
from modelshelf.store import repository
from modelshelf.store.repository import ListQuery, Page, Row
from modelshelf.store.session import Session


def entity_for(artifact_type: str | None) -> Entity:
    if artifact_type is None:
        raise InvalidArgument("artifactType is required")
    try:
        return ARTIFACTS[artifact_type]
    except KeyError:
        raise InvalidArgument(f"invalid artifact type {artifact_type!r}") from None


def create(conn: Session, entity: Entity, values: Mapping[str, Any]) -> Row:
    """A standalone artifact, linked to nothing (yet)."""
    _check_metric(entity, values)
    return records.create(conn, entity, {**values, "artifact_type": entity.artifact_type})


def upsert_into_model_version(
    conn: Session, model_version_id: int, entity: Entity, id_: int | None, values: Mapping[str, Any]
) -> tuple[Row, bool]:
    """Create or update an artifact and link it to a model version; True when it was created."""
    records.require_parent(conn, MODEL_VERSION, model_version_id)
    return upsert_linked(conn, "model version", model_version_id, entity, id_, values)


def upsert_linked(
    conn: Session,
    owner: str,
    owner_id: int,
    entity: Entity,
    id_: int | None,
    values: Mapping[str, Any],
    stamp: Mapping[str, Any] | None = None,
) -> tuple[Row, bool]:
    """Create or update an artifact and link it to its owner (a version or a run, which exists); True
    when it was created.

    A body with an id updates that artifact (and links it here too: artifacts may belong to several
    owners). A metric or parameter without an id that is named like one already linked here updates it:
    these record the latest value of a name. `stamp` holds server-set columns written on every path (the
    run that logged the artifact).
    """
    values = {c: v for c, v in values.items() if c != "artifact_type"} | dict(stamp or {})
    if id_ is not None:
        current = repository.get(conn, ANY_ARTIFACT, id_)
        if current is None:
            raise NotFound(f"artifact with id {id_} not found")
        _check_type(current, entity)
        row = records.update_row(conn, entity, current, _without_name(values))
        repository.link_artifact(conn, owner_id, row, owner=owner)
        return row, False
    if entity in (METRIC, PARAMETER) and values.get("name"):
        current = _linked(conn, owner, owner_id, entity, values["name"])
        if current is None:
            try:
                with repository.savepoint(conn):
                    return _create_linked(conn, owner, owner_id, entity, values), True
            except Conflict:
                # Another writer (another replica) created this name between the look and the insert:
                # this one updates it, as it would have a moment later.
                current = _linked(conn, owner, owner_id, entity, values["name"])
                if current is None:
                    raise
        return records.update_row(conn, entity, current, _without_name(values)), False
    return _create_linked(conn, owner, owner_id, entity, values), True


def _linked(conn: Session, owner: str, owner_id: int, entity: Entity, name: str) -> Row | None:
    return repository.linked_artifact_by_name(conn, owner_id, entity.artifact_type or "", name, owner=owner)


def _create_linked(
    conn: Session, owner: str, owner_id: int, entity: Entity, values: Mapping[str, Any]
) -> Row:
    _check_metric(entity, values)
    if values.get("name"):
        records.check_name_length(values["name"], owner_id)
    row = create(conn, entity, values)
    repository.link_artifact(conn, owner_id, row, new=True, owner=owner)
    return row


def update(conn: Session, id_: int, entity: Entity, values: Mapping[str, Any]) -> Row:
    current = repository.get(conn, ANY_ARTIFACT, id_)
    if current is None:
        raise NotFound(f"artifact with id {id_} not found")
    _check_type(current, entity)
    return records.update_row(
        conn, entity, current, {c: v for c, v in values.items() if c != "artifact_type"}
    )


def update_model_artifact(conn: Session, id_: int, values: Mapping[str, Any]) -> Row:
    entity = ARTIFACTS["model-artifact"]
    current = records.must_get(conn, entity, id_)
    return records.update_row(
        conn, entity, current, {c: v for c, v in values.items() if c != "artifact_type"}
    )


def find(
    conn: Session, entity: Entity, name: str | None, external_id: str | None, model_version_id: int | None
) -> Row:
    if external_id is None and (name is None or model_version_id is None):
        raise InvalidArgument(
            "invalid parameters call, supply either (name and parentResourceId), or externalId"
        )
    return records.find_one(
        conn, entity, records.find_where(name, external_id), model_version_id=model_version_id
    )


def list_artifacts(
    conn: Session, artifact_type: str | None, query: ListQuery, model_version_id: int | None = None
) -> Page:
    entity = ANY_ARTIFACT if artifact_type is None else entity_for(artifact_type)
    if model_version_id is not None:
        records.require_parent(conn, MODEL_VERSION, model_version_id)
        query = replace(query, model_version_id=model_version_id)
    return records.list_page(conn, entity, query)


def _check_type(current: Row, entity: Entity) -> None:
    if current["artifact_type"] != entity.artifact_type:
        raise InvalidArgument(
            f"cannot change artifact type from {current['artifact_type']!r} to {entity.artifact_type!r}: "
            "artifact type is immutable"
        )


def _check_metric(entity: Entity, values: Mapping[str, Any]) -> None:
    if entity is METRIC and values.get("metric_value") is None:
        raise InvalidArgument("a metric needs a value")


def _without_name(values: Mapping[str, Any]) -> dict[str, Any]:
    # Names are immutable; an upsert body repeats the name of what it updates.
    return {c: v for c, v in values.items() if c != "name"}
