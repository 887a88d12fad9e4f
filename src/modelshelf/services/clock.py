"""Timestamps in epoch milliseconds that never repeat and never go back within a process.

Clients order by `lastUpdateTimeSinceEpoch` and check that an update changed it, even for two updates in
the same millisecond, so each stamp is at least one more than the previous one. Across processes, an
update also moves past the row's stored stamp in SQL (repository.later_than_stored).
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1_000_000, self._last + 1)
            return self._last


clock = Clock()
