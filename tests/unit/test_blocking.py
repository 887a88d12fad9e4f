"""The worker pool: a hard bound on threads, calls dropped when their deadline passes before they start,
and a running call's own outcome reported, even a little past the deadline."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from modelshelf import blocking
from modelshelf.errors import DeadlineExceeded


def test_a_call_runs_on_a_worker_thread_with_the_callers_deadline() -> None:
    pool = blocking.ThreadPool(2, "test")

    async def scenario() -> tuple[int, float | None]:
        with blocking.deadline_after(5) as deadline:
            thread, seen = await pool.run(lambda: (threading.get_ident(), blocking.deadline()))
            assert seen == deadline
        return thread, blocking.deadline()

    try:
        thread, after = asyncio.run(scenario())
        assert thread != threading.get_ident() and after is None
        assert (pool.running, pool.queued) == (0, 0)
    finally:
        pool.shutdown()


def test_calls_queued_past_their_deadline_never_run_and_threads_stay_bounded() -> None:
    pool = blocking.ThreadPool(1, "test")
    release = threading.Event()
    ran: list[str] = []

    def busy() -> str:
        release.wait(10)
        return "busy"

    async def scenario() -> None:
        holder = asyncio.ensure_future(pool.run(busy))
        await asyncio.sleep(0.05)
        assert pool.running == 1
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded), blocking.deadline_after(0.2):
            await pool.run(lambda: ran.append("late"))
        assert time.monotonic() - started < 1.0
        assert pool.queued == 0  # dropped from the queue
        release.set()
        assert await holder == "busy"
        await asyncio.sleep(0.05)

    try:
        asyncio.run(scenario())
        assert ran == [], "a call dropped at its deadline must never run"
        assert (pool.running, pool.queued) == (0, 0)
    finally:
        pool.shutdown()


def test_a_running_call_reports_its_own_outcome_within_the_grace() -> None:
    pool = blocking.ThreadPool(1, "test")

    def slightly_late() -> str:
        time.sleep(0.4)  # past the 0.2 s deadline, within GRACE_S of it
        return "committed"

    async def scenario() -> str:
        with blocking.deadline_after(0.2):
            return await pool.run(slightly_late)

    try:
        assert asyncio.run(scenario()) == "committed"
    finally:
        pool.shutdown()


def test_a_call_stuck_past_the_grace_is_given_up_and_shutdown_does_not_wait_forever() -> None:
    pool = blocking.ThreadPool(1, "test")
    release = threading.Event()

    async def scenario() -> float:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded), blocking.deadline_after(0.1):
            await pool.run(lambda: release.wait(10))
        return time.monotonic() - started

    try:
        assert asyncio.run(scenario()) < 0.1 + blocking.GRACE_S + 0.5
        started = time.monotonic()
        pool.shutdown(wait=0.3)
        assert 0.25 < time.monotonic() - started < 2
    finally:
        release.set()
