"""Operators reach running workers: cancel a job, pause and resume an entrypoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from tests.engine.conftest import scalar
from tests.waiting import eventually

Worker = tuple[QueueManager, dict[int, float]]
"""A running manager, and when each of its jobs started (job id -> monotonic time)."""


@pytest.fixture
async def worker(fast: Settings) -> AsyncIterator[Worker]:
    """A running manager whose `sleepy` jobs sleep for their payload's seconds."""
    # Only notifications (and the heartbeat poke on a state change) can explain reactions
    # within ten seconds: polls are 30 s apart, heartbeats 20 s (a third of the retry timer).
    fast.engine.dequeue_timeout = 30.0
    fast.engine.heartbeat_interval = 20.0
    fast.engine.retry_timer = 60.0
    started: dict[int, float] = {}
    manager = QueueManager(fast)

    @manager.entrypoint("sleepy")
    async def sleepy(job: Job) -> None:
        started[job.id] = time.monotonic()
        await asyncio.sleep(float(job.text() or 0))

    task = asyncio.create_task(manager.run())
    yield manager, started
    await manager.stop(grace=1.0)
    await task


def pauses_seen(manager: QueueManager) -> list[str]:
    """What the worker reports each time the pauses it knows of change."""
    seen: list[str] = []
    manager.add_listener(
        lambda event: seen.append(event.message) if event.kind == "paused" else None
    )
    return seen


async def test_cancel_notification_cancels_the_running_job_and_records_it_canceled(
    worker: Worker, queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any]
) -> None:
    manager, started = worker
    (job_id,) = await queries.enqueue("sleepy", "30")

    async def running() -> bool:
        return job_id in started

    await eventually(running, 5, "the job to start")
    await queries.cancel([job_id])

    async def recorded() -> bool:
        return any(f.status == "canceled" for f in await queries.recent_failures())

    # The job sleeps 30 s: only the cancel can end it within the limit.
    await eventually(recorded, 10, "the cancel to be recorded")
    (failure,) = await queries.recent_failures()
    assert (failure.job_id, failure.final) == (job_id, True)
    assert await scalar(aconn, "SELECT count(*) FROM {t}", queries.names.jobs) == 0
    assert manager.counters.canceled == 1


async def test_paused_entrypoint_is_not_taken_and_resume_wakes_an_idle_worker(
    worker: Worker, queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any]
) -> None:
    manager, started = worker
    seen = pauses_seen(manager)
    await queries.pause(["sleepy"], reason="downstream on fire")
    await eventually(lambda: "paused: sleepy" in seen, 10, "the worker to see the pause")
    await queries.enqueue(["sleepy"] * 3, "0")
    await asyncio.sleep(1.0)  # time for a worker that ignored the pause to take them
    assert not started
    jobs = queries.names.jobs
    assert await scalar(aconn, "SELECT count(*) FROM {t} WHERE status = 'queued'", jobs) == 3
    await queries.resume(["sleepy"])

    async def all_ran() -> bool:
        return len(started) == 3

    # The worker polls every 30 s: only the resume notification wakes it within the limit.
    await eventually(all_ran, 10, "the jobs after resume")


async def test_timed_pause_ends_by_itself_without_a_notification(
    worker: Worker, queries: ConsoleQueries
) -> None:
    manager, started = worker
    seen = pauses_seen(manager)
    paused_at = time.monotonic()
    await queries.pause(["sleepy"], seconds=2.0)
    await eventually(lambda: "paused: sleepy" in seen, 10, "the worker to see the pause")
    # Its notification wakes the worker at once; the pause must hold the job back.
    (job_id,) = await queries.enqueue("sleepy", "0")

    def ran() -> bool:
        return job_id in started

    # No notification marks the end and polls are 30 s apart: the worker must know the time.
    await eventually(ran, 10, "the job after the pause ran out")
    assert started[job_id] - paused_at >= 2.0


async def test_running_worker_is_registered_with_its_entrypoints_and_state(
    worker: Worker, queries: ConsoleQueries
) -> None:
    manager, _ = worker

    async def registered_running() -> bool:
        rows = [w for w in await queries.workers() if w.id == manager.worker_id]
        return bool(rows) and rows[0].state == "running"

    # The state change pokes a heartbeat: heartbeats are 20 s apart, so only the poke shows
    # "running" within the limit.
    await eventually(registered_running, 10, "the registry to show it running")
    (row,) = [w for w in await queries.workers() if w.id == manager.worker_id]
    assert (row.entrypoints, row.concurrency) == (["sleepy"], 200)
    await manager.stop()
    assert [w for w in await queries.workers() if w.id == manager.worker_id] == []
