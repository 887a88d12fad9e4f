"""Timestamps in epoch milliseconds that never repeat and never go back within a process.

Clients order by `lastUpdateTimeSinceEpoch` and check that an update changed it, even for two updates in
the same millisecond, so each stamp is at least one more than the previous one. Across processes, an
update also moves past the row's stored stamp in SQL (repository.later_than_stored).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1_000_000, self._last + 1)
            return self._last


clock = Clock()


def iso(ms: int | None) -> str | None:
    """A stamp as ISO 8601 in UTC to the millisecond (`2024-05-01T12:00:00.000Z`), as people read it."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
