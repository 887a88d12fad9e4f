"""What one load run measured, whichever load generator ran it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Measurement:
    requests: int  # completed requests, errors included
    errors: int  # non-2xx responses, plus connect/read/write errors and timeouts
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    chains: int | None = None  # complete model -> version -> artifact chains (create scenarios only)
    error_samples: list[str] = field(default_factory=list)  # the first few failures, request and response
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def chains_per_s(self) -> float | None:
        return None if self.chains is None else self.chains / self.seconds

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "max_ms": round(self.max_ms, 3),
        }
        if self.chains is not None:
            out["chains"] = self.chains
            out["chains_per_s"] = round(self.chains_per_s or 0.0, 1)
        if self.error_kinds:
            out["error_kinds"] = self.error_kinds
        if self.error_samples:
            out["error_samples"] = self.error_samples
        return out


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(pct / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def from_latencies(
    latencies_s: list[float],
    errors: int,
    seconds: float,
    chains: int | None = None,
    error_samples: list[str] | None = None,
    error_kinds: dict[str, int] | None = None,
) -> Measurement:
    ordered = sorted(latencies_s)
    ms = 1000.0
    return Measurement(
        requests=len(ordered),
        errors=errors,
        seconds=seconds,
        p50_ms=percentile(ordered, 50) * ms,
        p99_ms=percentile(ordered, 99) * ms,
        mean_ms=(sum(ordered) / len(ordered) * ms) if ordered else 0.0,
        max_ms=(ordered[-1] * ms) if ordered else 0.0,
        chains=chains,
        error_samples=error_samples or [],
        error_kinds=error_kinds or {},
    )
