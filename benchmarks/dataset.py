"""The dataset every read scenario runs against, loaded through the public API.

Each registered model gets `versions` model versions and one model artifact per version. Custom
properties of all three scalar kinds give filterQuery something to chew on: on versions `accuracy`
(double, uniform in [0, 1)), `epochs` (int), `framework` (string); the first version of each model is
ARCHIVED, the others LIVE, so `state = 'LIVE' AND accuracy > 0.5` matches about a third of the versions.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.client import Connection, run

API = "/api/model_registry/v1"
LOAD_CONNECTIONS = 4

TEAMS = ("search", "ads", "vision", "speech", "risk")
FRAMEWORKS = ("pytorch", "tensorflow", "sklearn", "xgboost", "onnx")


def string_value(value: str) -> dict[str, Any]:
    return {"metadataType": "MetadataStringValue", "string_value": value}


def int_value(value: int) -> dict[str, Any]:
    return {"metadataType": "MetadataIntValue", "int_value": str(value)}


def double_value(value: float) -> dict[str, Any]:
    return {"metadataType": "MetadataDoubleValue", "double_value": value}


@dataclass(frozen=True)
class Dataset:
    tag: str
    model_ids: list[str]
    model_names: list[str]
    version_ids: list[str]
    artifact_ids: list[str]
    posts: int
    seconds: float


class LoadFailed(RuntimeError):
    pass


def load(
    host: str, port: int, models: int, versions: int, tag: str, seed: int, token: str | None = None
) -> Dataset:
    """Create the dataset on `LOAD_CONNECTIONS` connections (as `token`); any non-2xx aborts the run."""

    async def main() -> Dataset:
        model_ids: list[str] = []
        model_names: list[str] = []
        version_ids: list[str] = []
        artifact_ids: list[str] = []
        queue = list(range(models))
        posts = 0

        async def post(conn: Connection, path: str, body: dict[str, Any]) -> str:
            nonlocal posts
            reply = await conn.request("POST", path, body)
            posts += 1
            if not reply.ok:
                raise LoadFailed(
                    f"loading the dataset: POST {path} {body!r} -> {reply.status} {reply.body!r}"
                )
            data = reply.json()
            assert isinstance(data, dict)
            return str(data["id"])

        async def worker() -> None:
            conn = Connection(host, port, token)
            try:
                while queue:
                    i = queue.pop(0)
                    rng = random.Random(seed * 1_000_003 + i)
                    name = f"{tag}-model-{i:05d}"
                    model_id = await post(conn, f"{API}/registered_models", _model(name, rng))
                    model_ids.append(model_id)
                    model_names.append(name)
                    for j in range(1, versions + 1):
                        body = _version(model_id, j, rng)
                        version_id = await post(conn, f"{API}/model_versions", body)
                        version_ids.append(version_id)
                        artifact = _artifact(name, j, rng)
                        artifact_ids.append(
                            await post(conn, f"{API}/model_versions/{version_id}/artifacts", artifact)
                        )
            finally:
                await conn.close()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(LOAD_CONNECTIONS)))
        elapsed = time.perf_counter() - start
        return Dataset(tag, model_ids, model_names, version_ids, artifact_ids, posts, elapsed)

    return run(main())


def _model(name: str, rng: random.Random) -> dict[str, Any]:
    team = rng.choice(TEAMS)
    return {
        "name": name,
        "owner": team,
        "description": f"benchmark model {name}",
        "customProperties": {
            "team": string_value(team),
            "size_mb": int_value(rng.randint(1, 5000)),
            "score": double_value(round(rng.random(), 4)),
        },
    }


def _version(model_id: str, j: int, rng: random.Random) -> dict[str, Any]:
    return {
        "name": f"v{j}",
        "registeredModelId": model_id,
        "state": "ARCHIVED" if j == 1 else "LIVE",
        "author": rng.choice(TEAMS),
        "customProperties": {
            "accuracy": double_value(round(rng.random(), 4)),
            "epochs": int_value(rng.randint(1, 200)),
            "framework": string_value(rng.choice(FRAMEWORKS)),
        },
    }


def _artifact(model_name: str, j: int, rng: random.Random) -> dict[str, Any]:
    return {
        "artifactType": "model-artifact",
        "name": f"{model_name}-v{j}",
        "uri": f"s3://bench/{model_name}/v{j}/model.onnx",
        "modelFormatName": rng.choice(("onnx", "pytorch", "tensorflow")),
        "modelFormatVersion": str(rng.randint(1, 3)),
        "state": "LIVE",
        "customProperties": {"checksum": string_value(f"{rng.getrandbits(64):016x}")},
    }
