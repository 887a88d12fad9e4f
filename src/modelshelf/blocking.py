"""Where work that can wait runs: a bounded pool of threads, and the deadline every call inherits.

The server has one event loop. Only bounded, sub-millisecond work runs on it (parsing a request,
rendering a small answer, checking a scope); anything that can wait — a database statement, a lock, the
network — is handed to a `ThreadPool` and awaited, so a slow call holds one worker thread, never the
loop, `/healthz` or any other request (docs/architecture.md).

A request's deadline lives in a context variable set by its face (`deadline_after`). The pool copies the
context into the worker, so the code that runs there (store.session) sees the same deadline and bounds
its own waits with it: SQLite's busy timeout and progress handler, PostgreSQL's statement timeout.

Why a `concurrent.futures.ThreadPoolExecutor` rather than `anyio.to_thread` with a limiter: a call that
times out before a thread took it is cancelled and never runs, and a call already running keeps its
thread until it returns. The number of threads is therefore a hard bound even when every one of them
is stuck on a frozen database; the requests behind them wait in the queue until their own deadline,
and get a 503, while requests that need no worker go on being served.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from modelshelf.errors import DeadlineExceeded

T = TypeVar("T")

GRACE_S = 1.0  # how long past the deadline a running call may take to report how it ended
LATE = "the request did not finish within its deadline: the server is busy or the database is slow"

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("modelshelf_deadline", default=None)


@contextmanager
def deadline_after(seconds: float) -> Iterator[float]:
    """Give the work in this block (and every worker call it makes) `seconds` to finish, or less if an
    enclosing block's deadline comes first. Yields the deadline on the `time.monotonic()` clock."""
    outer = _deadline.get()
    deadline = time.monotonic() + seconds
    if outer is not None:
        deadline = min(deadline, outer)
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def deadline() -> float | None:
    """The current deadline on the `time.monotonic()` clock, or None when there is none."""
    return _deadline.get()


def remaining() -> float | None:
    """Seconds left before the current deadline (at least 0), or None when there is none."""
    current = _deadline.get()
    return None if current is None else max(0.0, current - time.monotonic())


def expired() -> bool:
    current = _deadline.get()
    return current is not None and time.monotonic() >= current


class ThreadPool:
    """At most `threads` threads for blocking calls; each call awaited within the current deadline."""

    def __init__(self, threads: int, name: str) -> None:
        if threads < 1:
            raise ValueError("a thread pool needs at least one thread")
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._running = 0
        self._queued = 0
        self._counting = threading.Lock()  # the counters change on the loop and on worker threads

    @property
    def running(self) -> int:
        """Calls running on a thread now."""
        return self._running

    @property
    def queued(self) -> int:
        """Calls waiting for a free thread."""
        return self._queued

    async def run(self, call: Callable[[], T]) -> T:
        """`call()` on a worker thread, in a copy of this context; DeadlineExceeded once the deadline
        passes (the call is dropped if it had not started, and left to finish if it had)."""
        context = contextvars.copy_context()
        with self._counting:
            self._queued += 1

        def work() -> T:
            self._moved_to_running()
            try:
                return context.run(call)
            finally:
                self._finished()

        submitted = self._executor.submit(work)
        result = asyncio.wrap_future(submitted)
        left = remaining()
        try:
            if left is None:
                return await result
            try:
                return await asyncio.wait_for(asyncio.shield(result), left)
            except TimeoutError:
                if self._drop(submitted):
                    raise DeadlineExceeded(LATE) from None
            # Running already: it bounds its own waits by the same deadline, so its outcome, which may
            # be a commit, is what the client must hear. Only a call stuck past that (a frozen database
            # server) is given up on, and it has not committed: a write checks the deadline first.
            return await asyncio.wait_for(result, GRACE_S)
        except TimeoutError:
            raise DeadlineExceeded(LATE) from None
        except asyncio.CancelledError:  # the client went away, or the server is shutting down
            self._drop(submitted)
            raise

    def _drop(self, submitted: Future[T]) -> bool:
        """Cancel a call that has not started; True when it never will (cancel() says so)."""
        if submitted.cancel():
            with self._counting:
                self._queued -= 1
            return True
        return False

    def _moved_to_running(self) -> None:
        with self._counting:
            self._queued -= 1
            self._running += 1

    def _finished(self) -> None:
        with self._counting:
            self._running -= 1

    def shutdown(self, wait: float = 0.0) -> None:
        """Stop taking calls and drop the queued ones; give the running ones up to `wait` seconds to end
        (each bounds itself by its deadline; one stuck on a frozen database is left behind)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        until = time.monotonic() + wait
        while self._running > 0 and time.monotonic() < until:
            time.sleep(0.01)
