"""The registry at scale: `python -m benchmarks.scale --versions N [--database-url URL] [--duration S]`.

Fills a fresh database with N model versions (benchmarks.load), starts a real `modelshelf serve` on it,
and measures over HTTP with wrk at one connection (latency): a list page of 100 at depths 0, 10,000 and
90 % of N, with and without a filterQuery on a custom property; GET by id; find by name; creates; and
the server's resident memory afterwards. Issue 10's targets are for N = 1,000,000: a filtered page p50
≤ 25 ms at every depth, GET and find within 20 % of an empty database, resident memory ≤ 250 MB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from benchmarks import client, load, server, wrk
from benchmarks.measurement import from_latencies

API = "/api/model_registry/v1"
FILTER = "framework = 'onnx'"  # a custom string property held by a fifth of the versions


def page_token(after_id: int) -> str:
    """The token of the page after version `after_id`, ordered by ID (api/kubeflow/paging.py)."""
    import base64

    return base64.b64encode(f"{after_id}:{after_id}".encode()).decode()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def creates(live: server.Server, seconds: float) -> tuple[float, float]:
    """Registered models created one after the other for `seconds`: (per second, p50 ms)."""

    async def run() -> tuple[float, float]:
        conn = client.Connection(live.host, live.port, live.token)
        run = time.strftime("%Y%m%dT%H%M%S")  # new names on a database measured before (--loaded)
        latencies = []
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < seconds:
            sent = time.monotonic()
            reply = await conn.request("POST", f"{API}/registered_models", {"name": f"scale-new-{run}-{n}"})
            if not reply.ok:
                raise RuntimeError(f"create failed: {reply.status} {reply.body[:200]!r}")
            latencies.append(time.monotonic() - sent)
            n += 1
        await conn.close()
        measured = from_latencies(latencies, 0, time.monotonic() - started)
        return measured.rps, measured.p50_ms

    return client.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--database-url", help="PostgreSQL to fill (default: SQLite in a fresh data dir)")
    args = load.benchmark_args(parser, argv)
    executable = wrk.required()
    data_dir = Path(tempfile.mkdtemp(prefix="modelshelf-bench-scale-"))
    url = args.database_url or f"sqlite:///{data_dir / 'modelshelf.db'}"
    started = time.monotonic()
    load.fill(url, args.versions, loaded=args.loaded)
    results: dict[str, Any] = {"versions": args.versions, "load_s": time.monotonic() - started}
    deep = int(args.versions * 0.9)
    with server.running(args.database_url, data_dir=data_dir) as live:
        paths: dict[str, str] = {}
        for depth in (0, 10_000, deep):
            token = f"&nextPageToken={urllib.parse.quote(page_token(depth))}" if depth else ""
            paths[f"page at {depth:,}"] = f"{API}/model_versions?pageSize=100&orderBy=ID{token}"
            query = urllib.parse.quote(FILTER)
            paths[f"page at {depth:,}, filterQuery"] = (
                f"{API}/model_versions?pageSize=100&orderBy=ID&filterQuery={query}{token}"
            )
        paths["GET version by id"] = f"{API}/model_versions/{args.versions // 2}"
        model = f"model-{args.versions // 20:07d}"
        paths["find model by name"] = f"{API}/registered_model?name={model}"
        measured = {}
        for label, path in paths.items():
            wrk.run(executable, live.base_url, [path], 1, 1, live.token)  # warm-up
            m = wrk.run(executable, live.base_url, [path], 1, args.duration, live.token)
            if m.errors:
                raise RuntimeError(f"{label}: {m.errors} failed requests: {m.error_samples}")
            measured[label] = m.as_dict()
            print(f"  {label:40} p50 {m.p50_ms:7.2f} ms   p99 {m.p99_ms:7.2f} ms", flush=True)
        rate, p50 = creates(live, args.duration)
        print(f"  {'create (registered model), 1 connection':40} p50 {p50:7.2f} ms   {rate:7.0f} /s")
        results["runs"] = measured
        results["create_per_s"], results["create_p50_ms"] = rate, p50
        results["rss_mb"] = rss_mb(live.pid)
        print(f"  server resident memory: {results['rss_mb']:.0f} MB (target ≤ 250 MB)")
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out / f"scale-{stamp}.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
