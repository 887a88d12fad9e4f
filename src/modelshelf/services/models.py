"""Registered models and their versions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from modelshelf.domain.entities import MODEL_VERSION, REGISTERED_MODEL
from modelshelf.errors import InvalidArgument, MissingField
from modelshelf.services import records
from modelshelf.store.repository import ListQuery, Page, Row
from modelshelf.store.session import Session


def create_registered_model(conn: Session, values: Mapping[str, Any]) -> Row:
    return records.create(conn, REGISTERED_MODEL, values)


def create_model_version(conn: Session, values: Mapping[str, Any]) -> Row:
    model_id = values.get("registered_model_id")
    if model_id is None:
        raise MissingField("required field 'registeredModelId' is zero value.")
    records.require_parent(conn, REGISTERED_MODEL, model_id)
    return records.create(conn, MODEL_VERSION, values)


def upsert_model_version(conn: Session, model_id: int, id_: int | None, values: Mapping[str, Any]) -> Row:
    """The nested POST: a body with an id updates that version of this model, one without creates it."""
    if id_ is None:
        return create_model_version(conn, {**values, "registered_model_id": model_id})
    current = records.must_get(conn, MODEL_VERSION, id_)
    if current["registered_model_id"] != model_id:
        raise InvalidArgument(f"model version {id_} does not belong to registered model {model_id}")
    changes = {c: v for c, v in values.items() if c not in ("name", "registered_model_id")}
    return records.update_row(conn, MODEL_VERSION, current, changes)


def find_model_version(conn: Session, name: str | None, external_id: str | None, model_id: int | None) -> Row:
    if external_id is None and (name is None or model_id is None):
        raise InvalidArgument(
            "invalid parameters call, supply either (name and parentResourceId), or externalId"
        )
    where = records.find_where(name, external_id)
    if model_id is not None:
        where["registered_model_id"] = model_id
    return records.find_one(conn, MODEL_VERSION, where)


def list_model_versions(conn: Session, model_id: int | None, query: ListQuery) -> Page:
    if model_id is not None:
        records.require_parent(conn, REGISTERED_MODEL, model_id)
        query = replace(query, where={**query.where, "registered_model_id": model_id})
    return records.list_page(conn, MODEL_VERSION, query)
