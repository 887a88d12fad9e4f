"""Serving environments, the inference services in them, and the models those serve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from modelshelf.domain.entities import (
    INFERENCE_SERVICE,
    MODEL_VERSION,
    REGISTERED_MODEL,
    SERVE_MODEL,
    SERVING_ENVIRONMENT,
)
from modelshelf.errors import InvalidArgument, MissingField, NotFound
from modelshelf.services import records
from modelshelf.store import repository
from modelshelf.store.repository import ListQuery, Page, Row
from modelshelf.store.session import Session


def create_inference_service(conn: Session, values: Mapping[str, Any]) -> Row:
    for column, api in (
        ("serving_environment_id", "servingEnvironmentId"),
        ("registered_model_id", "registeredModelId"),
    ):
        if values.get(column) is None:
            raise MissingField(f"required field '{api}' is zero value.")
    records.require_parent(conn, SERVING_ENVIRONMENT, values["serving_environment_id"])
    records.require_parent(conn, REGISTERED_MODEL, values["registered_model_id"])
    _check_version_of_model(conn, values.get("model_version_id"), values["registered_model_id"])
    return records.create(conn, INFERENCE_SERVICE, values)


def update_inference_service(conn: Session, id_: int, values: Mapping[str, Any]) -> Row:
    current = records.must_get(conn, INFERENCE_SERVICE, id_)
    _check_version_of_model(conn, values.get("model_version_id"), current["registered_model_id"])
    return records.update_row(conn, INFERENCE_SERVICE, current, values)


def _check_version_of_model(conn: Session, version_id: int | None, model_id: int) -> None:
    if version_id is None:
        return
    version = records.must_get(conn, MODEL_VERSION, version_id)
    if version["registered_model_id"] != model_id:
        raise InvalidArgument(f"model version {version_id} does not belong to registered model {model_id}")


def inference_service_model(conn: Session, id_: int) -> Row:
    service = records.must_get(conn, INFERENCE_SERVICE, id_)
    return records.must_get(conn, REGISTERED_MODEL, service["registered_model_id"])


def inference_service_version(conn: Session, id_: int) -> Row:
    """The version the service pins, else the newest version of its model."""
    service = records.must_get(conn, INFERENCE_SERVICE, id_)
    if service["model_version_id"] is not None:
        return records.must_get(conn, MODEL_VERSION, service["model_version_id"])
    latest = repository.latest(conn, MODEL_VERSION, registered_model_id=service["registered_model_id"])
    if latest is None:
        raise NotFound(
            f"registered model {service['registered_model_id']} of inference service {id_} has no versions"
        )
    return latest


def find_inference_service(
    conn: Session, name: str | None, external_id: str | None, environment_id: int | None
) -> Row:
    if external_id is None and (name is None or environment_id is None):
        raise InvalidArgument(
            "invalid parameters call, supply either (name and parentResourceId), or externalId"
        )
    where = records.find_where(name, external_id)
    if environment_id is not None:
        where["serving_environment_id"] = environment_id
    return records.find_one(conn, INFERENCE_SERVICE, where)


def list_inference_services(conn: Session, environment_id: int | None, query: ListQuery) -> Page:
    if environment_id is not None:
        records.require_parent(conn, SERVING_ENVIRONMENT, environment_id)
        query = replace(query, where={**query.where, "serving_environment_id": environment_id})
    return records.list_page(conn, INFERENCE_SERVICE, query)


def create_serve(conn: Session, service_id: int, values: Mapping[str, Any]) -> Row:
    records.require_parent(conn, INFERENCE_SERVICE, service_id)
    if values.get("model_version_id") is None:
        raise MissingField("required field 'modelVersionId' is zero value.")
    records.require_parent(conn, MODEL_VERSION, values["model_version_id"])
    return records.create(conn, SERVE_MODEL, {**values, "inference_service_id": service_id})


def list_serves(conn: Session, service_id: int, query: ListQuery) -> Page:
    records.require_parent(conn, INFERENCE_SERVICE, service_id)
    return records.list_page(
        conn, SERVE_MODEL, replace(query, where={**query.where, "inference_service_id": service_id})
    )
