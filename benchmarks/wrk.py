"""Drive wrk (C, epoll, one thread) with paths.lua; install it from Debian when missing and allowed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.measurement import Measurement

SCRIPT = Path(__file__).with_name("paths.lua")
# paths.lua sends this variable's value as the Authorization header. The environment, not `-H` or the
# script's arguments: a command line is visible to every user of the machine (ps), an environment is not.
AUTH_ENV = "BENCH_AUTHORIZATION"


def find(install: bool) -> str | None:
    """The wrk executable; with `install`, apt-get it first when missing and running as root."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    print("wrk is not installed: apt-get install -y wrk ...", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return None
    return shutil.which("wrk")


def required() -> str:
    """The wrk executable, installed when missing and allowed; a benchmark that needs it exits with
    status 2 (the harness could not run) when it cannot be had."""
    found = find(install=True)
    if found is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        raise SystemExit(2)
    return found


def version(executable: str) -> str:
    """`wrk debian/4.1.0-3+b2 [epoll]` (wrk prints its version, then a copyright, then its usage)."""
    done = subprocess.run([executable, "--version"], capture_output=True, text=True, check=False)
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].split(" Copyright")[0].strip() if lines else "wrk"


def run(
    executable: str,
    base_url: str,
    paths: list[str],
    connections: int,
    seconds: float,
    token: str | None = None,
    seed: int = 1,
) -> Measurement:
    """GET random `paths` on `connections` connections (one wrk thread) for `seconds`, as `token`."""
    with tempfile.NamedTemporaryFile("w", prefix="bench-paths-", suffix=".txt", delete=False) as f:
        f.write("\n".join(paths) + "\n")
        paths_file = f.name
    try:
        command = [
            executable,
            "-t1",  # one epoll thread keeps up with a Python server and leaves the other core alone
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
            "--timeout",
            "10s",
            "-s",
            str(SCRIPT),
            base_url,
            "--",
            paths_file,
            str(seed),
        ]
        done = subprocess.run(command, env=_env(token), capture_output=True, text=True, check=False)
    finally:
        os.unlink(paths_file)
    return parse(done.stdout, done.stderr, done.returncode)


def _env(token: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != AUTH_ENV}
    if token is not None:
        env[AUTH_ENV] = f"Bearer {token}"
    return env


def parse(stdout: str, stderr: str, returncode: int) -> Measurement:
    summary: dict[str, float] | None = None
    sample = ""
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            summary = json.loads(line.removeprefix("BENCH_JSON "))
        elif line.startswith("BENCH_SAMPLE "):
            sample = line.removeprefix("BENCH_SAMPLE ")
    if summary is None:
        raise RuntimeError(f"wrk exited with {returncode} and no summary:\n{stdout}\n{stderr}")
    kinds = {
        name: int(summary[key])
        for name, key in (
            ("non-2xx", "non2xx"),
            ("connect", "connect"),
            ("read", "read"),
            ("write", "write"),
            ("timeout", "timeout"),
        )
        if summary[key]
    }
    samples = [f"GET (random path) -> {sample}"] if sample else []
    us = 1000.0
    return Measurement(
        requests=int(summary["requests"]),
        errors=sum(kinds.values()),
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / us,
        p99_ms=summary["p99_us"] / us,
        mean_ms=summary["mean_us"] / us,
        max_ms=summary["max_us"] / us,
        error_samples=samples,
        error_kinds=kinds,
    )
