"""Sample the server with py-spy while a scenario runs, and summarise where its CPU went.

py-spy is not a dependency: `pip install py-spy` into the venv to use `--profile`. It samples without
pausing the server (`--nonblocking`), but it still costs a little CPU, so a profiled pass is an extra run
whose throughput is not reported in the table.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RATE_HZ = 250


@dataclass(frozen=True)
class Profile:
    samples: int  # non-idle samples (py-spy drops those of a thread waiting in epoll)
    by_package: list[tuple[str, float]]  # share of samples whose leaf frame is in that package
    self_top: list[tuple[str, float]]  # (function, share of samples where it is the leaf)
    own_top: list[tuple[str, float]]  # (modelshelf function, share of samples where it is on the stack)
    raw_path: Path


def executable() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(py_spy: str, pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(RATE_HZ),
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], output: Path, top: int = 15) -> Profile | str:
    """Wait for py-spy; a Profile, or the reason there is none."""
    _, err = proc.communicate()
    if proc.returncode != 0 or not output.exists():
        return f"py-spy failed ({proc.returncode}): {err.decode(errors='replace')[-1000:]}"
    return summarise(output, top)


def summarise(raw: Path, top: int = 15) -> Profile:
    """Shares of samples from py-spy's collapsed stacks (`frame;frame;... count`), per function, not line."""
    leaf: Counter[str] = Counter()
    package: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        leaf[frames[-1][0]] += count
        package[frames[-1][1]] += count
        # modelshelf's own frames below the entry point (`modelshelf serve` is on every stack)
        for name in {name for name, pkg in frames if pkg == "modelshelf" and not _entry(name)}:
            own[name] += count
    share = 1.0 / total if total else 0.0
    return Profile(
        samples=total,
        by_package=[(name, n * share) for name, n in package.most_common()],
        self_top=[(name, n * share) for name, n in leaf.most_common(top)],
        own_top=[(name, n * share) for name, n in own.most_common(top)],
        raw_path=raw,
    )


def _entry(name: str) -> bool:
    return name.startswith("<module>") or "modelshelf/cli/" in name


def _function(frame: str) -> tuple[str, str]:
    """`send (uvicorn/protocols/http/httptools_impl.py:524)` -> (`send (uvicorn/...impl.py)`, `uvicorn`).

    py-spy already shortens paths to start at the package (or the stdlib module)."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3.", "/lib/python3/"):
        if marker in path:  # in case a py-spy version leaves paths long
            path = path.split(marker, 1)[1]
    package = path.split("/", 1)[0].removesuffix(".py") or "?"
    if package.startswith("<"):  # <string>, <sqlalchemy generated ... wrapper>: code made at run time
        package = "(generated code)"
    return (f"{name} ({path})" if path else name), package
