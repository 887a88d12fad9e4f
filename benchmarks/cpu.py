"""Where the machine's CPU went during a measurement: the server, the load generator, everything else.

On a small shared machine a figure means little without this: a server at 100 % of one core is the
server's limit; a server at 60 % while "other" eats a core is a noisy neighbour, not a slow server.
All figures are in cores (1.0 = one core busy for the whole measurement). Linux only (/proc).
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Snapshot:
    wall: float
    machine_busy: float  # seconds of CPU, all processes
    server: float
    children: float  # reaped children of the harness (wrk)
    harness: float  # this process (the asyncio load generator)


@dataclass(frozen=True)
class Usage:
    server: float
    client: float
    other: float

    def as_dict(self) -> dict[str, float]:
        return {
            "server": round(self.server, 2),
            "client": round(self.client, 2),
            "other": round(self.other, 2),
        }


def cores() -> int:
    return os.cpu_count() or 1


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def snapshot(server_pid: int) -> Snapshot:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return Snapshot(
        wall=time.monotonic(),
        machine_busy=_machine_busy(),
        server=_process_cpu(server_pid),
        children=children.ru_utime + children.ru_stime,
        harness=me.ru_utime + me.ru_stime,
    )


def usage(before: Snapshot, after: Snapshot) -> Usage:
    wall = max(after.wall - before.wall, 1e-9)
    server = (after.server - before.server) / wall
    client = (after.children - before.children + after.harness - before.harness) / wall
    machine = (after.machine_busy - before.machine_busy) / wall
    return Usage(server, client, max(machine - server - client, 0.0))


def _machine_busy() -> float:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait is busy.
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _TICK


def _process_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
