"""The asyncio load generator: create chains (each POST needs the id the previous one returned), and every
read scenario when wrk is not available. It runs in the harness process, on the same two cores as the
server, so its own CPU use is reported beside every figure it produces. With a `token`, every request
carries `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.client import Connection, ProtocolError, Reply, run
from benchmarks.dataset import FRAMEWORKS, TEAMS, double_value, int_value, string_value
from benchmarks.measurement import Measurement, from_latencies

API = "/api/model_registry/v1"
MAX_SAMPLES = 5


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def failure(self, kind: str, sample: str) -> None:
        self.errors += 1
        self.kinds[kind] += 1
        if len(self.samples) < MAX_SAMPLES and sample not in self.samples:
            self.samples.append(sample)


def describe(method: str, path: str, body: object, reply: Reply | None, exc: Exception | None = None) -> str:
    """One failure, request and response, as the report shows it."""
    sent = f" {body!r}" if body is not None else ""
    got = f"{exc.__class__.__name__}: {exc}" if reply is None else f"{reply.status} {reply.body[:500]!r}"
    return f"{method} {path}{sent} -> {got}"


async def _timed(
    conn: Connection, tally: _Tally, method: str, path: str, body: object = None
) -> Reply | None:
    start = time.perf_counter()
    try:
        reply = await conn.request(method, path, body)
    except (ProtocolError, OSError) as exc:
        tally.failure(exc.__class__.__name__, describe(method, path, body, None, exc))
        return None
    tally.latencies.append(time.perf_counter() - start)
    if not reply.ok:
        tally.failure(f"HTTP {reply.status}", describe(method, path, body, reply))
        return None
    return reply


def run_reads(
    host: str, port: int, paths: list[str], connections: int, seconds: float, token: str | None = None
) -> Measurement:
    """GET random paths from `paths` on `connections` keep-alive connections for `seconds`."""

    async def main() -> Measurement:
        tally = _Tally()
        deadline = time.perf_counter() + seconds

        async def worker(rng: random.Random) -> None:
            conn = Connection(host, port, token)
            try:
                while time.perf_counter() < deadline:
                    await _timed(conn, tally, "GET", rng.choice(paths))
            finally:
                await conn.close()

        start = time.perf_counter()
        await asyncio.gather(*(worker(random.Random(i)) for i in range(connections)))
        elapsed = time.perf_counter() - start
        return from_latencies(tally.latencies, tally.errors, elapsed, None, tally.samples, dict(tally.kinds))

    return run(main())


def chain_bodies(name: str, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The three bodies of one model -> version -> artifact chain (ids are filled in as they come back)."""
    model = {
        "name": name,
        "owner": rng.choice(TEAMS),
        "customProperties": {
            "team": string_value(rng.choice(TEAMS)),
            "size_mb": int_value(rng.randint(1, 5000)),
            "score": double_value(round(rng.random(), 4)),
        },
    }
    version = {
        "name": "v1",
        "state": "LIVE",
        "author": "bench",
        "customProperties": {
            "accuracy": double_value(round(rng.random(), 4)),
            "framework": string_value(rng.choice(FRAMEWORKS)),
            "epochs": int_value(rng.randint(1, 200)),
        },
    }
    artifact = {
        "artifactType": "model-artifact",
        "name": f"{name}-artifact",
        "uri": f"s3://bench/{name}/model.onnx",
        "modelFormatName": "onnx",
        "modelFormatVersion": "1",
        "customProperties": {"checksum": string_value(f"{rng.getrandbits(64):016x}")},
    }
    return model, version, artifact


async def create_chain(conn: Connection, tally: _Tally, name: str, rng: random.Random) -> bool:
    """POST a registered model, a version of it and a model artifact of that version; False on a failure."""
    model, version, artifact = chain_bodies(name, rng)
    reply = await _timed(conn, tally, "POST", f"{API}/registered_models", model)
    if reply is None:
        return False
    version["registeredModelId"] = _id(reply)
    reply = await _timed(conn, tally, "POST", f"{API}/model_versions", version)
    if reply is None:
        return False
    return (
        await _timed(conn, tally, "POST", f"{API}/model_versions/{_id(reply)}/artifacts", artifact)
        is not None
    )


def run_chains(
    host: str, port: int, connections: int, seconds: float, tag: str, token: str | None = None
) -> Measurement:
    """Create model -> version -> artifact chains on `connections` connections for `seconds`."""

    async def main() -> Measurement:
        tally = _Tally()
        chains = 0
        deadline = time.perf_counter() + seconds

        async def worker(index: int) -> None:
            nonlocal chains
            rng = random.Random(index)
            conn = Connection(host, port, token)
            n = 0
            try:
                while time.perf_counter() < deadline:
                    n += 1
                    if await create_chain(conn, tally, f"{tag}-c{connections}-w{index}-{n}", rng):
                        chains += 1
            finally:
                await conn.close()

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(connections)))
        elapsed = time.perf_counter() - start
        return from_latencies(
            tally.latencies, tally.errors, elapsed, chains, tally.samples, dict(tally.kinds)
        )

    return run(main())


def _id(reply: Reply) -> str:
    data = reply.json()
    assert isinstance(data, dict), data
    return str(data["id"])


def probe(host: str, port: int, paths: list[str], token: str | None = None, limit: int = 200) -> list[str]:
    """GET each of the first `limit` distinct paths once; the failures, request and response."""

    async def main() -> list[str]:
        tally = _Tally()
        conn = Connection(host, port, token)
        try:
            for path in list(dict.fromkeys(paths))[:limit]:
                await _timed(conn, tally, "GET", path)
        finally:
            await conn.close()
        return tally.samples

    return run(main())
