"""Read throughput of one replica against two on one PostgreSQL: `python -m benchmarks.replicas`.

Fills a PostgreSQL database with `--versions` model versions (benchmarks.load), starts two real
`modelshelf serve --no-migrate` processes on it, each with its own data directory as on hosts of their
own, and drives reads with two wrk processes of `--connections` each: GET a version by id, a page of a
model's versions, find a model by name, picked at random. First both wrk processes send to one replica,
then each to its own. Same load generators, same requests, same database: the ratio is what the second
replica adds. Issue 10's target is at least 1.6 (this machine has two cores, shared by the replicas,
PostgreSQL and wrk).

Without `--database-url`, a PostgreSQL server is started from Debian's binaries (tests/fixtures/postgres).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import load, server, wrk
from benchmarks.measurement import Measurement

API = "/api/model_registry/v1"
TARGET = 1.6


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.fixtures.postgres import PostgresServer

    with PostgresServer() as pg:
        yield pg.create_database("replicas")


def read_paths(versions: int, count: int = 2000, seed: int = 7) -> list[str]:
    """Random reads over the loaded data (benchmarks.load: ten versions per model)."""
    rng = random.Random(seed)
    models = versions // load.VERSIONS_PER_MODEL
    paths = []
    for _ in range(count):
        kind = rng.randrange(3)
        if kind == 0:
            paths.append(f"{API}/model_versions/{rng.randint(1, versions)}")
        elif kind == 1:
            paths.append(f"{API}/registered_models/{rng.randint(1, models)}/versions?pageSize=10")
        else:
            paths.append(f"{API}/registered_model?name=model-{rng.randint(1, models):07d}")
    return paths


def together(executable: str, targets: list[server.Server], paths: list[str], args: Any) -> Measurement:
    """One wrk per target, all at once; their requests and seconds summed."""
    results: list[Measurement] = []

    def drive(target: server.Server, seed: int) -> None:
        results.append(
            wrk.run(executable, target.base_url, paths, args.connections, args.duration, target.token, seed)
        )

    threads = [threading.Thread(target=drive, args=(t, i + 1)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = sum(r.errors for r in results)
    if errors:
        raise RuntimeError(f"{errors} failed requests: {[s for r in results for s in r.error_samples][:3]}")
    seconds = max(r.seconds for r in results)
    requests = sum(r.requests for r in results)
    p50 = sorted(r.p50_ms for r in results)[len(results) // 2]
    return Measurement(requests, 0, seconds, p50, max(r.p99_ms for r in results), 0.0, 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8, help="per wrk process (two of them)")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: start one)")
    args = load.benchmark_args(parser, argv)
    executable = wrk.required()
    with postgres(args.database_url) as url:
        load.fill(url, args.versions, loaded=args.loaded)
        paths = read_paths(args.versions)
        with contextlib.ExitStack() as stack:
            replicas = [
                stack.enter_context(
                    server.running(url, data_dir=Path(tempfile.mkdtemp(prefix="modelshelf-bench-replica-")))
                )
                for _ in range(2)
            ]
            for replica in replicas:  # warm-up: connections, caches, the token's lookup
                wrk.run(executable, replica.base_url, paths, args.connections, 2, replica.token)
            one = together(executable, [replicas[0], replicas[0]], paths, args)
            print(f"  one replica:  {one.rps:7.0f} reads/s   p50 {one.p50_ms:6.2f} ms", flush=True)
            two = together(executable, replicas, paths, args)
            print(f"  two replicas: {two.rps:7.0f} reads/s   p50 {two.p50_ms:6.2f} ms", flush=True)
    ratio = two.rps / one.rps
    print(f"  two replicas serve {ratio:.2f}x the reads of one (target ≥ {TARGET})")
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    document = {"versions": args.versions, "one": one.as_dict(), "two": two.as_dict(), "ratio": ratio}
    (out / f"replicas-{stamp}.json").write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
