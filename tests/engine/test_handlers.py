"""What a handler sees and what its outcome becomes: order, delays, limits, failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.testing import Harness
from tests.engine.conftest import scalar
from tests.waiting import eventually


def test_one_worker_runs_higher_priority_first_then_fifo(
    pgqtop_settings: Settings, pgqtop_queue: Harness
) -> None:
    pgqtop_settings.engine.concurrency = 1
    order: list[int] = []

    def register(manager: QueueManager) -> None:
        @manager.entrypoint("ordered")
        async def ordered(job: Job) -> None:
            order.append(job.id)

    priorities = [0, 5, 0, 9, 5, 0, 9]
    ids = [pgqtop_queue.enqueue("ordered", priority=p) for p in priorities]
    pairs = sorted(zip(priorities, ids, strict=True), key=lambda p: (-p[0], p[1]))
    expected = [job_id for _, job_id in pairs]

    pgqtop_queue.drain(register).assert_all_succeeded()
    assert order == expected


async def test_delayed_job_runs_when_due_not_before_and_not_a_poll_later(
    fast: Settings, queries: ConsoleQueries, running: Callable[[QueueManager], None]
) -> None:
    fast.engine.dequeue_timeout = 30.0  # no NOTIFY marks the moment: the worker must know it
    started: dict[str, float] = {}
    manager = QueueManager(fast)

    @manager.entrypoint("later")
    async def later(job: Job) -> None:
        started[job.text() or ""] = time.monotonic()

    running(manager)
    enqueued = time.monotonic()
    await queries.enqueue("later", "delayed", execute_after=1.0)
    await queries.enqueue("later", "now")

    async def both_ran() -> bool:
        return len(started) == 2

    await eventually(both_ran, 15, "both jobs")
    # Not before it is due; and long before the next poll (30 s) could have found it.
    assert started["now"] - enqueued < 10
    assert 1.0 <= started["delayed"] - enqueued < 10


def test_concurrency_limit_is_never_exceeded(pgqtop_queue: Harness) -> None:
    current = peak = 0

    def register(manager: QueueManager) -> None:
        @manager.entrypoint("limited", concurrency_limit=3)
        async def limited(job: Job) -> None:
            nonlocal current, peak
            current += 1
            peak = max(peak, current)
            await asyncio.sleep(0.02)
            current -= 1

        @manager.entrypoint("free")
        async def free(job: Job) -> None:
            await asyncio.sleep(0.02)

    for name in ["limited"] * 40 + ["free"] * 40:
        pgqtop_queue.enqueue(name)
    result = pgqtop_queue.drain(register)

    assert len(result.of("limited")) == 40 and len(result.succeeded) == 80
    assert peak == 3


async def test_failing_handler_is_retried_with_backoff_then_recorded_with_traceback(
    fast: Settings,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    running: Callable[[QueueManager], None],
) -> None:
    fast.engine.dequeue_timeout = 30.0
    runs: list[float] = []
    manager = QueueManager(fast)

    @manager.entrypoint("flaky", retry=QueueManager.retry(3, backoff=2.0, initial_delay=0.3))
    async def flaky(job: Job) -> None:
        runs.append(time.monotonic())
        raise ValueError(f"attempt {job.attempts} broke")

    await queries.enqueue("flaky")
    running(manager)
    failures = queries.names.failures

    async def final_failure() -> bool:
        return int(await scalar(aconn, "SELECT count(*) FROM {t} WHERE final", failures)) == 1

    await eventually(final_failure, 20, "the final failure")
    assert len(runs) == 3
    # Each wait doubles; each retry runs when due, long before the next poll (30 s).
    assert 0.3 <= runs[1] - runs[0] < 5
    assert 0.6 <= runs[2] - runs[1] < 5
    rows = await (
        await aconn.execute(
            psycopg.sql.SQL("SELECT attempts, final, error, traceback FROM {} ORDER BY id").format(
                psycopg.sql.Identifier(failures)
            )
        )
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(1, False), (2, False), (3, True)]
    assert rows[2][2] == "ValueError: attempt 3 broke"
    assert "in flaky" in rows[2][3] and "Traceback" in rows[2][3]
    assert await scalar(aconn, "SELECT count(*) FROM {t}", queries.names.jobs) == 0
    assert manager.counters.retried == 2 and manager.counters.failed == 1


async def test_handler_running_past_its_timeout_is_recorded_as_timed_out(
    fast: Settings, queries: ConsoleQueries, running: Callable[[QueueManager], None]
) -> None:
    manager = QueueManager(fast)

    @manager.entrypoint("slow", timeout=0.2)
    async def slow(job: Job) -> None:
        await asyncio.sleep(30)

    @manager.entrypoint("slow_sync", timeout=0.2)
    def slow_sync(job: Job) -> None:
        time.sleep(0.5)

    await queries.enqueue(["slow", "slow_sync"])
    running(manager)

    async def both_recorded() -> bool:
        return len(await queries.recent_failures()) == 2

    await eventually(both_recorded, 5, "two timeouts")
    detail = await queries.recent_failures()
    assert {f.error for f in detail} == {"timed out after 0.2s"}
    assert {f.entrypoint for f in detail} == {"slow", "slow_sync"}


def test_base_exceptions_from_handlers_are_job_failures_not_worker_crashes(
    pgqtop_queue: Harness,
) -> None:
    raised = iter([SystemExit(3), KeyboardInterrupt(), asyncio.CancelledError()])

    def register(manager: QueueManager) -> None:
        @manager.entrypoint("rude")
        async def rude(job: Job) -> None:
            raise next(raised)

    for _ in range(3):
        pgqtop_queue.enqueue("rude")
    result = pgqtop_queue.drain(register)

    # The worker outlived all three and drained the queue: each is its job's failure.
    assert len(result.failed) == 3
    errors = {r.error for r in result}
    assert errors == {"asyncio.exceptions.CancelledError", "KeyboardInterrupt", "SystemExit: 3"}
    kinds = {type(r.exception) for r in result}
    assert kinds == {SystemExit, KeyboardInterrupt, asyncio.CancelledError}
