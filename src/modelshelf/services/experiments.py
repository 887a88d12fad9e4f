"""Experiments, their runs, the artifacts logged to runs, and the history of runs' metrics (v1alpha3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson

from modelshelf.domain.entities import (
    ANY_ARTIFACT,
    EXPERIMENT,
    EXPERIMENT_RUN,
    METRIC,
    METRIC_HISTORY,
    Entity,
)
from modelshelf.domain.properties import property_values
from modelshelf.errors import InvalidArgument, MissingField
from modelshelf.services import artifacts, records
from modelshelf.store import repository
from modelshelf.store.repository import ListQuery, Page, Row, dumps
from modelshelf.store.session import Session

RUN = "experiment run"  # the owner name artifacts are linked under


def create_experiment(conn: Session, values: Mapping[str, Any]) -> Row:
    return records.create(conn, EXPERIMENT, values)


def create_run(conn: Session, values: Mapping[str, Any]) -> Row:
    experiment_id = values.get("experiment_id")
    if experiment_id is None:
        raise MissingField("required field 'experimentId' is zero value.")
    records.require_parent(conn, EXPERIMENT, experiment_id)
    _check_times(values.get("start_time"), values.get("end_time"))
    return records.create(conn, EXPERIMENT_RUN, values)


def update_run(conn: Session, id_: int, values: Mapping[str, Any]) -> Row:
    current = records.must_get(conn, EXPERIMENT_RUN, id_)
    _check_times(current["start_time"], values.get("end_time"))
    return records.update_row(conn, EXPERIMENT_RUN, current, values)


def upsert_run(conn: Session, experiment_id: int, id_: int | None, values: Mapping[str, Any]) -> Row:
    """The nested POST: a body with an id updates that run of this experiment, one without creates it."""
    if id_ is None:
        return create_run(conn, {**values, "experiment_id": experiment_id})
    records.require_parent(conn, EXPERIMENT, experiment_id)
    current = records.must_get(conn, EXPERIMENT_RUN, id_)
    if current["experiment_id"] != experiment_id:
        raise InvalidArgument(f"experiment run {id_} does not belong to experiment {experiment_id}")
    changes = {c: v for c, v in values.items() if c not in ("name", "experiment_id", "start_time")}
    _check_times(current["start_time"], changes.get("end_time"))
    return records.update_row(conn, EXPERIMENT_RUN, current, changes)


def _check_times(start: int | None, end: int | None) -> None:
    if start is not None and end is not None and end < start:
        raise InvalidArgument(f"endTimeSinceEpoch {end} is before startTimeSinceEpoch {start}")


def find_run(conn: Session, name: str | None, external_id: str | None, experiment_id: int | None) -> Row:
    if external_id is None and (name is None or experiment_id is None):
        raise InvalidArgument(
            "invalid parameters call, supply either (name and parentResourceId), or externalId"
        )
    where = records.find_where(name, external_id)
    if experiment_id is not None:
        where["experiment_id"] = experiment_id
    return records.find_one(conn, EXPERIMENT_RUN, where)


def list_runs(conn: Session, experiment_id: int | None, query: ListQuery) -> Page:
    if experiment_id is not None:
        records.require_parent(conn, EXPERIMENT, experiment_id)
        query = replace(query, where={**query.where, "experiment_id": experiment_id})
    return records.list_page(conn, EXPERIMENT_RUN, query)


# --- artifacts logged to runs ------------------------------------------------------------------------


def log_artifact(
    conn: Session, run_id: int, entity: Entity, id_: int | None, values: Mapping[str, Any]
) -> tuple[Row, bool]:
    """Create or update an artifact in a run (True when created); a metric also gains a history entry.

    The artifact records the run and its experiment. A metric logged again under its name keeps only its
    latest value; every value it was logged with stays in the metric history.
    """
    run = records.must_get(conn, EXPERIMENT_RUN, run_id)
    stamp = {"experiment_id": run["experiment_id"], "experiment_run_id": run_id}
    row, created = artifacts.upsert_linked(conn, RUN, run_id, entity, id_, values, stamp)
    if entity is METRIC:
        _append_history(conn, row)
    return row, created


def _append_history(conn: Session, metric: Row) -> None:
    text = metric["custom_properties"]  # as stored: JSON text
    history = repository.insert_row(
        conn,
        repository.table_of(METRIC_HISTORY),
        {
            "metric_id": metric["id"],
            "experiment_id": metric["experiment_id"],
            "experiment_run_id": metric["experiment_run_id"],
            "name": metric["name"],
            "description": metric["description"],
            "custom_properties": text if isinstance(text, str) else dumps(text),
            "artifact_type": "metric",
            "state": metric["state"],
            "metric_value": metric["metric_value"],
            "timestamp": metric["timestamp"],
            "step": metric["step"],
            # The time the value was logged: the metric's own update time.
            "create_time": metric["last_update_time"],
            "last_update_time": metric["last_update_time"],
        },
    )
    properties = orjson.loads(text) if isinstance(text, str | bytes) else text
    repository.replace_properties(
        conn, METRIC_HISTORY.table, history["id"], property_values(properties), new=True
    )


def list_run_artifacts(conn: Session, run_id: int, artifact_type: str | None, query: ListQuery) -> Page:
    records.require_parent(conn, EXPERIMENT_RUN, run_id)
    entity = ANY_ARTIFACT if artifact_type is None else artifacts.entity_for(artifact_type)
    return records.list_page(conn, entity, replace(query, experiment_run_id=run_id))


def metric_history(
    conn: Session, run_id: int | None, name: str | None, steps: tuple[int, ...] | None, query: ListQuery
) -> Page:
    """The values metrics were logged with: of one run, or of every run."""
    where = dict(query.where)
    if run_id is not None:
        records.require_parent(conn, EXPERIMENT_RUN, run_id)
        where["experiment_run_id"] = run_id
    return records.list_page(
        conn, METRIC_HISTORY, replace(query, where=where, name_contains=name or None, steps=steps)
    )
