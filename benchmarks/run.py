"""Benchmark a real modelshelf server: `python -m benchmarks.run [--quick] [--duration S] ...`.

Starts `modelshelf serve` on a fresh data directory, loads a dataset through the API, measures the hot
read paths beside a trivial endpoint (wrk) and create chains (asyncio client), every request with the
server's admin token; then stops it and measures GET by id again on `modelshelf serve --no-auth` over the
same data. Prints a table and the ratios the project tracks, and writes
benchmarks/results/<timestamp>.json. Exit status 1 when any request failed (non-2xx or a transport
error), 2 when the harness itself could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import cpu, dataset, profile, pyload, server, wrk
from benchmarks.measurement import Measurement

API = dataset.API
RESULTS_DIR = Path(__file__).with_name("results")
FILTER_QUERY = "state = 'LIVE' AND accuracy > 0.5"
SCENARIOS = ("healthz", "get_by_id", "find_by_name", "list_filter", "create_chain", "get_by_id_no_auth")
# Measured on a second server, `serve --no-auth` over the same data, once the first one has stopped.
NO_AUTH_SCENARIOS = frozenset({"get_by_id_no_auth"})
PYTHON_CLIENT = "python-asyncio"

# The targets the project holds itself to.
TARGET_BY_ID_OVER_TRIVIAL = 0.5
TARGET_BY_ID_P50_MS = 2.0
TARGET_SQLITE_POSTS_PER_S = 500.0
TARGET_AUTH_OVERHEAD = 0.10  # what authentication may add to the GET-by-id figures
NOISE_CORES = 0.25  # 'cpu other' above this during a run: the machine was not quiet

Measurer = Callable[[int, float], Measurement]  # (connections, seconds) -> what was measured


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    example: str
    generator: str
    measure: Measurer
    connection_counts: tuple[int, ...]
    warmup: bool
    replay_paths: list[str] = field(default_factory=list)  # GETs to replay when wrk saw failures
    auth: bool = True  # requests carry the server's token; False: the server runs `serve --no-auth`


@dataclass
class Outcome:
    scenario: Scenario
    connections: int
    measurement: Measurement
    usage: cpu.Usage

    @property
    def key(self) -> str:
        return self.scenario.key

    @property
    def title(self) -> str:
        return self.scenario.title

    @property
    def server_us_per_request(self) -> float:
        """Server CPU per request: unlike req/s, it holds still when other processes take CPU away."""
        m = self.measurement
        return self.usage.server * m.seconds / m.requests * 1e6 if m.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.key,
            "title": self.title,
            "connections": self.connections,
            "generator": self.scenario.generator,
            "auth": self.scenario.auth,
            "example_request": self.scenario.example,
            **self.measurement.as_dict(),
            "cpu_cores": self.usage.as_dict(),
            "server_cpu_us_per_request": round(self.server_us_per_request, 1),
        }


@dataclass
class Report:
    meta: dict[str, Any]
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    profiles: dict[str, profile.Profile | str] = field(default_factory=dict)
    server_log: str = ""  # the tail of each server's log


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 10; --quick: 2)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s per measurement, small dataset")
    parser.add_argument("--models", type=int, help="registered models to load (default 200; --quick: 20)")
    parser.add_argument("--versions", type=int, default=3, help="versions per model, one artifact each")
    parser.add_argument("--connections", type=int, default=16, help="connections of the throughput runs")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unreported load first")
    parser.add_argument(
        "--database-url", help="run the server on this database (MODELSHELF_DATABASE_URL), e.g. PostgreSQL"
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator for reads: wrk (installed with apt-get when missing), or the asyncio client",
    )
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--only", help=f"comma-separated scenarios, of: {','.join(SCENARIOS)}")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after measuring, sample the server with py-spy during extra GET-by-id and create runs",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the dataset")
    parser.add_argument("--keep-data", action="store_true", help="keep the servers' data dir and logs")
    parser.add_argument("--output", type=Path, help="results file (default benchmarks/results/<time>.json)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 10.0)
    args.models = args.models or (20 if args.quick else 200)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    selected = set(args.only.split(",")) if args.only else set(SCENARIOS)
    if unknown := selected - set(SCENARIOS):
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
        return 2
    wrk_path = None if args.generator == "python" else wrk.find(install=not args.no_install)
    if args.generator == "wrk" and wrk_path is None:
        print("--generator wrk: wrk is not installed and could not be installed", file=sys.stderr)
        return 2
    if wrk_path is None:
        _banner(
            "wrk is not available: reads are measured with the asyncio client, which shares the two cores "
            "with the server. Read figures are lower than with wrk; compare runs of the same generator."
        )

    started = dt.datetime.now().astimezone()
    args.output = args.output or RESULTS_DIR / f"{started:%Y%m%d-%H%M%S}.json"
    report = Report(_meta(args, wrk.version(wrk_path) if wrk_path else PYTHON_CLIENT, started))
    meta = report.meta
    print(
        f"modelshelf benchmark: {meta['database']}, {args.duration:g} s per run, "
        f"reads by {meta['read_generator']}, {meta['cores']} cores"
    )
    if meta["load_average_at_start"][0] > 0.5:
        print(f"note: load average {meta['load_average_at_start']} at start: other work shares the CPUs")
    try:
        _run_servers(args, selected, wrk_path, f"bench{started:%Y%m%d%H%M%S}", report)
    except server.ServerFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except dataset.LoadFailed as exc:
        _banner(str(exc))
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: server stopped, no results written", file=sys.stderr)
        return 130

    meta["load_average_at_end"] = [round(v, 2) for v in cpu.load_average()]
    meta["max_other_cpu_cores"] = round(max((o.usage.other for o in report.outcomes), default=0.0), 2)
    ratios = _ratios(report.outcomes, args.connections, meta["database"])
    server_errors = any(word in report.server_log for word in ("Traceback", "ERROR"))
    _print_report(report, ratios, server_errors)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(_document(report, ratios), indent=2) + "\n")
    print(f"\nresults written to {args.output}")
    return 1 if report.failures or server_errors else 0


def _meta(args: argparse.Namespace, generator: str, started: dt.datetime) -> dict[str, Any]:
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "git": _git_describe(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": cpu.cores(),
        "load_average_at_start": [round(v, 2) for v in cpu.load_average()],
        "database": "postgresql" if args.database_url and "postgres" in args.database_url else "sqlite",
        "database_url": _redact(args.database_url) if args.database_url else None,
        "read_generator": generator,
        "create_generator": PYTHON_CLIENT,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "quick": args.quick,
    }


# --- scenarios ------------------------------------------------------------------------------------------


def _run_servers(
    args: argparse.Namespace, selected: set[str], wrk_path: str | None, tag: str, report: Report
) -> None:
    """The authenticated server first; then, when asked for, the `--no-auth` one on the same data directory
    (and database), never both at once: on two cores they would measure each other."""
    with server.data_directory(keep=args.keep_data) as data_dir:
        with server.running(args.database_url, data_dir=data_dir) as srv:
            print(f"server pid {srv.pid} on {srv.base_url}, data in {srv.data_dir}")
            data = _load(srv, args, tag, report)
            scenarios = {s.key: s for s in _scenarios(srv, data, wrk_path, args.connections, tag)}
            _measure(srv, scenarios, selected, args, report)
            if args.profile:
                for key in ("get_by_id", "create_chain"):
                    report.profiles[key] = _profile(
                        srv, scenarios[key], args.connections, args.duration, args.output.with_suffix("")
                    )
            report.server_log += _log(srv)
        if selected & NO_AUTH_SCENARIOS:
            with server.running(args.database_url, data_dir=data_dir, no_auth=True) as srv:
                print(f"server pid {srv.pid} on {srv.base_url}, --no-auth, same data")
                scenarios = {s.key: s for s in _no_auth_scenarios(srv, data, wrk_path, args.connections)}
                _measure(srv, scenarios, selected, args, report)
                report.server_log += _log(srv)


def _load(srv: server.Server, args: argparse.Namespace, tag: str, report: Report) -> dataset.Dataset:
    data = dataset.load(srv.host, srv.port, args.models, args.versions, tag, args.seed, srv.token)
    report.meta["dataset"] = {
        "registered_models": len(data.model_ids),
        "model_versions": len(data.version_ids),
        "model_artifacts": len(data.artifact_ids),
        "load_posts": data.posts,
        "load_seconds": round(data.seconds, 2),
    }
    print(
        f"loaded {len(data.model_ids)} models, {len(data.version_ids)} versions, "
        f"{len(data.artifact_ids)} artifacts: {data.posts} POSTs in {data.seconds:.1f} s "
        f"({data.posts / data.seconds:.0f}/s on {dataset.LOAD_CONNECTIONS} connections)"
    )
    return data


def _measure(
    srv: server.Server,
    scenarios: dict[str, Scenario],
    selected: set[str],
    args: argparse.Namespace,
    report: Report,
) -> None:
    """Run the selected ones of `scenarios`, in the order of SCENARIOS."""
    for key in SCENARIOS:
        if key not in selected or key not in scenarios:
            continue
        scenario = scenarios[key]
        if scenario.warmup:
            scenario.measure(args.connections, args.warmup)
        for connections in scenario.connection_counts:
            before = cpu.snapshot(srv.pid)
            measurement = scenario.measure(connections, args.duration)
            outcome = Outcome(scenario, connections, measurement, cpu.usage(before, cpu.snapshot(srv.pid)))
            report.outcomes.append(outcome)
            _progress(outcome)
            if measurement.errors:
                report.failures += _failures(outcome, srv)


def _log(srv: server.Server) -> str:
    return f"--- {srv.log_path.name} ---\n{server.log_tail(srv, 200)}\n"


def _scenarios(
    srv: server.Server, data: dataset.Dataset, wrk_path: str | None, connections: int, tag: str
) -> list[Scenario]:
    quote = urllib.parse.quote
    out = _reads(
        srv,
        wrk_path,
        connections,
        [
            ("healthz", "GET /healthz (trivial)", ["/healthz"]),
            ("get_by_id", "GET registered_models/{id}", _by_id_paths(data)),
            (
                "find_by_name",
                "GET registered_model?name=",
                [f"{API}/registered_model?name={quote(name, safe='')}" for name in data.model_names],
            ),
            (
                "list_filter",
                "GET model_versions?filterQuery= (20/page)",
                [f"{API}/model_versions?pageSize=20&filterQuery={quote(FILTER_QUERY, safe='')}"],
            ),
        ],
    )

    def chains(c: int, seconds: float) -> Measurement:
        return pyload.run_chains(srv.host, srv.port, c, seconds, f"{tag}-c{c}", srv.token)

    out.append(
        Scenario(
            "create_chain",
            "create model->version->artifact (3 POSTs)",
            f"POST {API}/registered_models, {API}/model_versions, {API}/model_versions/{{id}}/artifacts",
            PYTHON_CLIENT,
            chains,
            (1, connections),
            warmup=False,  # the reads warmed the server up; creates would only grow the dataset
        )
    )
    return out


def _no_auth_scenarios(
    srv: server.Server, data: dataset.Dataset, wrk_path: str | None, connections: int
) -> list[Scenario]:
    """What runs on the `--no-auth` server: GET by id, as `get_by_id` measured it, less authentication."""
    paths = _by_id_paths(data)
    return _reads(
        srv, wrk_path, connections, [("get_by_id_no_auth", "GET registered_models/{id}, no auth", paths)]
    )


def _by_id_paths(data: dataset.Dataset) -> list[str]:
    return [f"{API}/registered_models/{i}" for i in data.model_ids]


def _reads(
    srv: server.Server, wrk_path: str | None, connections: int, reads: list[tuple[str, str, list[str]]]
) -> list[Scenario]:
    """A read scenario for each (key, title, paths): GET random paths, at `connections`, then at 1."""
    generator = wrk.version(wrk_path) if wrk_path else PYTHON_CLIENT
    return [
        Scenario(
            key,
            title,
            f"GET {paths[0]}",
            generator,
            _read_measurer(srv, wrk_path, paths),
            (connections, 1),  # throughput, then latency
            warmup=True,
            replay_paths=paths if wrk_path else [],
            auth=srv.token is not None,
        )
        for key, title, paths in reads
    ]


def _read_measurer(srv: server.Server, wrk_path: str | None, paths: list[str]) -> Measurer:
    if wrk_path is not None:
        return lambda c, seconds: wrk.run(wrk_path, srv.base_url, paths, c, seconds, srv.token)
    return lambda c, seconds: pyload.run_reads(srv.host, srv.port, paths, c, seconds, srv.token)


def _failures(outcome: Outcome, srv: server.Server) -> list[str]:
    """The failures of one run; wrk does not say which path failed, so its paths are replayed once."""
    where = f"[{outcome.key} @{outcome.connections}c] {outcome.measurement.error_kinds}"
    lines = [f"{where} {sample}" for sample in outcome.measurement.error_samples] or [where]
    if outcome.scenario.replay_paths:
        replayed = pyload.probe(srv.host, srv.port, outcome.scenario.replay_paths, srv.token)
        lines += [f"{where} replayed: {sample}" for sample in replayed]
    return lines


def _profile(
    srv: server.Server, scenario: Scenario, connections: int, seconds: float, raw_prefix: Path
) -> profile.Profile | str:
    """An extra, unreported run of `scenario` while py-spy samples the server."""
    py_spy = profile.executable()
    if py_spy is None:
        return "py-spy is not installed (.venv/bin/pip install py-spy)"
    print(f"profiling the server with py-spy during {scenario.key} @{connections}c ...", flush=True)
    raw = raw_prefix.with_name(f"{raw_prefix.name}-{scenario.key}.collapsed.txt")
    raw.parent.mkdir(parents=True, exist_ok=True)
    proc = profile.start(py_spy, srv.pid, seconds, raw)
    scenario.measure(connections, seconds)
    return profile.finish(proc, raw)


# --- reporting ------------------------------------------------------------------------------------------


def _print_report(report: Report, ratios: dict[str, Any], server_errors: bool) -> None:
    print()
    print(_table(report.outcomes))
    print()
    for line in _ratio_lines(ratios, report.meta["connections"]):
        print(line)
    worst_other = report.meta["max_other_cpu_cores"]
    postgres = report.meta["database"] == "postgresql"
    if worst_other > NOISE_CORES:
        print(
            f"\nWARNING: other processes kept up to {worst_other} of {report.meta['cores']} cores busy "
            "during the runs (column 'cpu other'): these figures understate the server; "
            "rerun on a quiet machine."
            + (" (A PostgreSQL server on this machine counts as 'other' too.)" if postgres else "")
        )
    for key, result in report.profiles.items():
        print()
        print(
            _profile_text(key, result) if isinstance(result, profile.Profile) else f"profile {key}: {result}"
        )
    if report.failures:
        _banner(f"{sum(o.measurement.errors for o in report.outcomes)} FAILED REQUESTS")
        for line in report.failures:
            print(f"  {line}")
    if server_errors:
        _banner("THE SERVER LOGGED ERRORS; its log (tail):")
        print(report.server_log)


def _document(report: Report, ratios: dict[str, Any]) -> dict[str, Any]:
    return {
        "meta": report.meta,
        "results": [o.as_dict() for o in report.outcomes],
        "ratios": ratios,
        "failures": report.failures,
        "profiles": {
            key: {
                "samples": result.samples,
                "by_package": [[name, round(share, 4)] for name, share in result.by_package],
                "self": [[name, round(share, 4)] for name, share in result.self_top],
                "modelshelf_inclusive": [[name, round(share, 4)] for name, share in result.own_top],
            }
            for key, result in report.profiles.items()
            if isinstance(result, profile.Profile)
        },
    }


def _progress(outcome: Outcome) -> None:
    m = outcome.measurement
    flag = f"  !!! {m.errors} ERRORS" if m.errors else ""
    print(
        f"  {outcome.title:<44} {outcome.connections:>3}c {m.rps:>9.1f} req/s  p50 {m.p50_ms:6.2f} ms  "
        f"p99 {m.p99_ms:7.2f} ms{flag}",
        flush=True,
    )


def _table(outcomes: list[Outcome]) -> str:
    header = (
        "scenario",
        "conns",
        "req/s",
        "chains/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "cpu srv",
        "cpu client",
        "cpu other",
        "srv µs/req",
    )
    rows = [header]
    for o in outcomes:
        m = o.measurement
        rows.append(
            (
                o.title,
                str(o.connections),
                f"{m.rps:.1f}",
                "" if m.chains_per_s is None else f"{m.chains_per_s:.1f}",
                f"{m.p50_ms:.2f}",
                f"{m.p99_ms:.2f}",
                f"{m.errors}" + (" !!!" if m.errors else ""),
                f"{o.usage.server:.2f}",
                f"{o.usage.client:.2f}",
                f"{o.usage.other:.2f}",
                f"{o.server_us_per_request:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("cpu columns: cores busy during the run (server process, load generator, everything else);")
    lines.append(
        "srv µs/req: server CPU time per request, the figure that least depends on the machine's load"
    )
    return "\n".join(lines)


def _find(outcomes: list[Outcome], key: str, connections: int) -> Outcome | None:
    return next((o for o in outcomes if o.key == key and o.connections == connections), None)


def _ratios(outcomes: list[Outcome], connections: int, backend: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    trivial = _find(outcomes, "healthz", connections)
    by_id = _find(outcomes, "get_by_id", connections)
    by_id_1 = _find(outcomes, "get_by_id", 1)
    creates = [o for o in (_find(outcomes, "create_chain", c) for c in (1, connections)) if o]
    if trivial and by_id and trivial.measurement.rps:
        value = by_id.measurement.rps / trivial.measurement.rps
        out["get_by_id_over_trivial"] = {
            "value": round(value, 3),
            "target": f">= {TARGET_BY_ID_OVER_TRIVIAL}",
            "met": value >= TARGET_BY_ID_OVER_TRIVIAL,
        }
        if by_id.server_us_per_request:
            # The same ratio from server CPU per request: what req/s would give were the server alone.
            cpu_value = trivial.server_us_per_request / by_id.server_us_per_request
            out["get_by_id_over_trivial_by_server_cpu"] = {
                "value": round(cpu_value, 3),
                "target": f">= {TARGET_BY_ID_OVER_TRIVIAL}",
                "met": cpu_value >= TARGET_BY_ID_OVER_TRIVIAL,
            }
    if by_id_1:
        p50 = by_id_1.measurement.p50_ms
        out["get_by_id_p50_ms_1c"] = {
            "value": round(p50, 3),
            "target": f"< {TARGET_BY_ID_P50_MS}",
            "met": p50 < TARGET_BY_ID_P50_MS,
        }
    out |= _auth_ratios(outcomes, connections)
    if creates:
        best = max(o.measurement.rps for o in creates)
        out["create_posts_per_s"] = {
            "value": round(best, 1),
            "target": f">= {TARGET_SQLITE_POSTS_PER_S} (SQLite)",
            "met": best >= TARGET_SQLITE_POSTS_PER_S if backend == "sqlite" else None,
        }
        us = min(o.server_us_per_request for o in creates)
        if us:
            # POSTs one server core could take, were it the server's alone.
            per_core = 1e6 / us
            out["create_posts_per_server_cpu_s"] = {
                "value": round(per_core, 1),
                "target": f">= {TARGET_SQLITE_POSTS_PER_S} (SQLite)",
                "met": per_core >= TARGET_SQLITE_POSTS_PER_S if backend == "sqlite" else None,
            }
    return out


def _auth_ratios(outcomes: list[Outcome], connections: int) -> dict[str, Any]:
    """What authentication adds to GET by id: `get_by_id` against `get_by_id_no_auth`, same data."""
    out: dict[str, Any] = {}
    target = f"<= {TARGET_AUTH_OVERHEAD:.2f} ({TARGET_AUTH_OVERHEAD:.0%})"
    auth, no_auth = (
        _find(outcomes, "get_by_id", connections),
        _find(outcomes, "get_by_id_no_auth", connections),
    )
    if auth and no_auth and no_auth.measurement.rps:
        value = 1 - auth.measurement.rps / no_auth.measurement.rps
        out["auth_overhead_get_by_id"] = {
            "value": round(value, 3),
            "target": target,
            "met": value <= TARGET_AUTH_OVERHEAD,
            "with_auth": _throughput(auth),
            "without_auth": _throughput(no_auth),
        }
        if auth.server_us_per_request:
            # The same from server CPU per request: what req/s would give were the server alone.
            cpu_value = 1 - no_auth.server_us_per_request / auth.server_us_per_request
            out["auth_overhead_get_by_id_by_server_cpu"] = {
                "value": round(cpu_value, 3),
                "target": target,
                "met": cpu_value <= TARGET_AUTH_OVERHEAD,
            }
    auth, no_auth = _find(outcomes, "get_by_id", 1), _find(outcomes, "get_by_id_no_auth", 1)
    if auth and no_auth and no_auth.measurement.p50_ms:
        value = auth.measurement.p50_ms / no_auth.measurement.p50_ms - 1
        out["auth_overhead_get_by_id_p50_1c"] = {
            "value": round(value, 3),
            "target": target,
            "met": value <= TARGET_AUTH_OVERHEAD,
            "with_auth": {"p50_ms": round(auth.measurement.p50_ms, 3)},
            "without_auth": {"p50_ms": round(no_auth.measurement.p50_ms, 3)},
        }
    return out


def _throughput(outcome: Outcome) -> dict[str, float]:
    return {
        "requests_per_s": round(outcome.measurement.rps, 1),
        "server_cpu_us_per_request": round(outcome.server_us_per_request, 1),
    }


def _ratio_lines(ratios: dict[str, Any], connections: int) -> list[str]:
    labels = {
        "get_by_id_over_trivial": f"GET by id req/s ÷ trivial req/s ({connections} connections)",
        "get_by_id_p50_ms_1c": "GET by id p50 at 1 connection, ms",
        "auth_overhead_get_by_id": f"auth overhead, GET by id: 1 - req/s with ÷ without ({connections} c)",
        "auth_overhead_get_by_id_by_server_cpu": "  same, from server CPU per request (less load-dependent)",
        "auth_overhead_get_by_id_p50_1c": "auth overhead, GET by id p50 at 1 connection",
        "create_posts_per_s": f"creates, POST requests/s (best of 1 and {connections} connections)",
        "get_by_id_over_trivial_by_server_cpu": "  same, from server CPU per request (less load-dependent)",
        "create_posts_per_server_cpu_s": "  same, POSTs per second of server CPU (less load-dependent)",
    }
    lines = []
    for key, ratio in ratios.items():
        met = {True: "MET", False: "MISSED", None: "n/a on this database"}[ratio["met"]]
        lines.append(f"{labels[key]:<58} {ratio['value']:>8}   target {ratio['target']:<16} {met}")
        if "with_auth" in ratio:
            lines.append(
                f"    with auth: {_figures(ratio['with_auth'])}; without: {_figures(ratio['without_auth'])}"
            )
    return lines


def _figures(figures: dict[str, float]) -> str:
    units = {"requests_per_s": "req/s", "server_cpu_us_per_request": "srv µs/req", "p50_ms": "ms p50"}
    return ", ".join(f"{value:g} {units[name]}" for name, value in figures.items())


def _profile_text(key: str, result: profile.Profile) -> str:
    lines = [f"py-spy, {key}: {result.samples} non-idle samples of the server ({result.raw_path})"]
    sections = (
        ("by package of the leaf frame", result.by_package),
        ("self, by function (leaf frame)", result.self_top),
        ("modelshelf functions, inclusive (on the stack)", result.own_top),
    )
    for title, top in sections:
        lines.append(f"  {title}:")
        lines += [f"    {share * 100:5.1f}%  {frame}" for frame, share in top]
    return "\n".join(lines)


def _banner(text: str) -> None:
    bar = "!" * 100
    print(f"\n{bar}\n!!! {text}\n{bar}", file=sys.stderr, flush=True)


def _git_describe() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def _redact(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))


if __name__ == "__main__":
    sys.exit(main())
