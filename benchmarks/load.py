"""Fill a registry database with many model versions, fast: `python -m benchmarks.load --versions N`.

Writes N/10 registered models with 10 versions each; every version has one model artifact, and models and
versions carry custom properties of several types. The rows are exactly what the Kubeflow API would store
(the `custom_properties` JSON on the row and its typed `custom_property` index rows, built by the store's
own functions), but they go in with one executemany per table and batch, not one request per entity, so a
million versions take minutes. The database is migrated first; rows already there are kept, and new ids
continue after theirs. Audit events are not written: nobody made these requests.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select, text

from modelshelf.domain.properties import property_values
from modelshelf.store import migrate, repository, tables
from modelshelf.store.engine import connect

VERSIONS_PER_MODEL = 10
MODELS_PER_BATCH = 300  # 3,000 versions: about 16,000 rows per transaction
FRAMEWORKS = ("pytorch", "tensorflow", "sklearn", "xgboost", "onnx")
TEAMS = 50
BASE_TIME = 1_700_000_000_000  # epoch ms; row k is created k ms after it, so times are distinct


def version_stamp(version_id: int, now: int = BASE_TIME) -> int:
    """The create and update time of version `version_id`, loaded from empty with this `now`."""
    return now + version_id


def framework(version_id: int) -> str:
    return FRAMEWORKS[version_id % len(FRAMEWORKS)]


def accuracy(version_id: int) -> float:
    """Spread over [0, 1) without a pattern that follows the id order: `accuracy > 0.99` is 1 % of them."""
    return (version_id * 7919 % 10_000) / 10_000


def epochs(version_id: int) -> int:
    return 1 + version_id % 100


def team(model_id: int) -> str:
    return f"team-{model_id % TEAMS}"


def model_properties(model_id: int) -> dict[str, Any]:
    return {
        "team": {"metadataType": "MetadataStringValue", "string_value": team(model_id)},
        "production": {"metadataType": "MetadataBoolValue", "bool_value": model_id % 4 == 0},
    }


def version_properties(version_id: int) -> dict[str, Any]:
    return {
        "framework": {"metadataType": "MetadataStringValue", "string_value": framework(version_id)},
        "accuracy": {"metadataType": "MetadataDoubleValue", "double_value": accuracy(version_id)},
        "epochs": {"metadataType": "MetadataIntValue", "int_value": str(epochs(version_id))},
    }


@dataclass
class Batch:
    models: list[dict[str, Any]]
    versions: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]
    links: list[dict[str, Any]]
    properties: list[dict[str, Any]]

    def write(self, conn: Connection) -> None:
        # Parents first: the foreign keys are checked (SQLite's foreign_keys pragma is on).
        for table, rows in (
            (tables.registered_model, self.models),
            (tables.model_version, self.versions),
            (tables.artifact, self.artifacts),
            (tables.model_version_artifact, self.links),
            (tables.custom_property, self.properties),
        ):
            if rows:
                conn.execute(insert(table), rows)


def _next_ids(conn: Connection) -> dict[str, int]:
    used = (tables.registered_model, tables.model_version, tables.artifact)
    return {t.name: (conn.execute(select(func.max(t.c.id))).scalar() or 0) + 1 for t in used}


def batches(models: int, first: dict[str, int], now: int) -> Iterator[Batch]:
    """The rows of `models` models in batches of MODELS_PER_BATCH, with ids from `first` on."""
    model_id, version_id, artifact_id = (
        first["registered_model"],
        first["model_version"],
        first["artifact"],
    )
    for start in range(0, models, MODELS_PER_BATCH):
        batch = Batch([], [], [], [], [])
        for _ in range(min(MODELS_PER_BATCH, models - start)):
            name = f"model-{model_id:07d}"
            stamp = now + model_id
            props = model_properties(model_id)
            batch.models.append(
                _common(model_id, name, props, stamp) | {"state": "LIVE", "owner": team(model_id)}
            )
            batch.properties += repository.property_rows("registered_model", model_id, property_values(props))
            for number in range(1, VERSIONS_PER_MODEL + 1):
                vname = f"v{number}"
                vstamp = now + version_id
                props = version_properties(version_id)
                batch.versions.append(
                    _common(version_id, vname, props, vstamp)
                    | {"registered_model_id": model_id, "state": "LIVE", "author": team(model_id)}
                )
                batch.properties += repository.property_rows(
                    "model_version", version_id, property_values(props)
                )
                aname = f"{name}-{vname}"
                batch.artifacts.append(
                    _common(artifact_id, aname, {}, vstamp)
                    | {
                        "artifact_type": "model-artifact",
                        "uri": f"s3://models/{name}/{vname}/model.onnx",
                        "state": "LIVE",
                        "model_format_name": framework(version_id),
                        "model_format_version": "1",
                    }
                )
                batch.links.append(
                    {
                        "model_version_id": version_id,
                        "artifact_id": artifact_id,
                        "artifact_type": "model-artifact",
                        "name": aname,
                    }
                )
                version_id += 1
                artifact_id += 1
            model_id += 1
        yield batch


def _common(id_: int, name: str, properties: dict[str, Any], stamp: int) -> dict[str, Any]:
    return {
        "id": id_,
        "name": name,
        "description": None,
        "external_id": None,
        "custom_properties": repository.dumps(properties),
        "create_time": stamp,
        "last_update_time": stamp,
    }


def _advance_sequences(conn: Connection, used: Sequence[Table]) -> None:
    """PostgreSQL hands out ids from a sequence, which explicit ids do not move: move it past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in used:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table.name}))"
            )
        )


def load(engine: Engine, versions: int, *, progress: bool = False, now: int | None = None) -> int:
    """Add `versions` model versions (rounded up to whole models); returns the number of models added.

    Row k of a table is stamped `now + k` ms; by default `now` is after every row already stored."""
    migrate.upgrade(engine)
    models = -(-versions // VERSIONS_PER_MODEL)
    with engine.connect() as conn:
        first = _next_ids(conn)
    if now is None:
        now = max(BASE_TIME, int(time.time() * 1000))
    started = time.monotonic()
    done = 0
    for batch in batches(models, first, now):
        with engine.begin() as conn:
            batch.write(conn)
        done += len(batch.models)
        if progress and done % (MODELS_PER_BATCH * 20) == 0:
            rate = done * VERSIONS_PER_MODEL / (time.monotonic() - started)
            print(f"  {done * VERSIONS_PER_MODEL:,} versions ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    with engine.begin() as conn:
        _advance_sequences(conn, (tables.registered_model, tables.model_version, tables.artifact))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            # Planner statistics and the visibility map (index-only scans) for the new rows, which
            # autovacuum would make a while later. Not on SQLite: the server never runs ANALYZE there,
            # and a benchmark should see the plans it gets.
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    return models


def benchmark_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """A benchmark's arguments, with `--loaded`: its `--database-url` already holds the `--versions` an
    earlier run of it loaded, so that run's data is measured again (a million versions take minutes)."""
    parser.add_argument(
        "--loaded", action="store_true", help="the database already holds --versions loaded by this benchmark"
    )
    args = parser.parse_args(argv)
    if args.loaded and not args.database_url:
        parser.error("--loaded needs --database-url")
    return args


def fill(url: str, versions: int, *, loaded: bool) -> None:
    """`versions` model versions into the database at `url`, unless `loaded` (see benchmark_args)."""
    if loaded:
        return
    engine = connect(url)
    try:
        load(engine, versions)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, required=True, help="model versions to add (10 per model)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="sqlite:///path or postgresql://user:pass@host/db")
    where.add_argument("--data-dir", type=Path, help="a data directory; the SQLite file modelshelf.db in it")
    args = parser.parse_args(argv)
    if args.versions < 1:
        parser.error("--versions must be at least 1")
    url = args.database_url
    if url is None:
        data_dir = (args.data_dir or Path(".modelshelf")).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{data_dir / 'modelshelf.db'}"
    engine = connect(url)
    started = time.monotonic()
    try:
        models = load(engine, args.versions, progress=True)
    finally:
        engine.dispose()
    elapsed = time.monotonic() - started
    versions = models * VERSIONS_PER_MODEL
    print(f"loaded {models:,} registered models and {versions:,} versions in {elapsed:.1f} s")
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        print(f"database {path}: {size / 1e6:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
