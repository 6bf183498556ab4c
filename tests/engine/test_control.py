"""Operators reach running workers: cancel a job, pause and resume an entrypoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.queries import Queries
from tests.engine.conftest import scalar
from tests.waiting import eventually


@pytest.fixture
async def worker(fast: Settings) -> AsyncIterator[tuple[QueueManager, list[int]]]:
    """A running manager whose `sleepy` jobs sleep for their payload's seconds."""
    fast.engine.dequeue_timeout = 30.0  # only notifications can explain prompt reactions
    started: list[int] = []
    manager = QueueManager(fast)

    @manager.entrypoint("sleepy")
    async def sleepy(job: Job) -> None:
        started.append(job.id)
        await asyncio.sleep(float(job.text() or 0))

    task = asyncio.create_task(manager.run())
    yield manager, started
    await manager.stop(grace=1.0)
    await task


async def test_cancel_notification_cancels_the_running_job_and_records_it_canceled(
    worker: tuple[QueueManager, list[int]], queries: Queries, aconn: psycopg.AsyncConnection[Any]
) -> None:
    manager, started = worker
    (job_id,) = await queries.enqueue("sleepy", "30")

    async def running() -> bool:
        return job_id in started

    await eventually(running, 5, "the job to start")
    await queries.cancel([job_id])

    async def recorded() -> bool:
        return any(f.status == "canceled" for f in await queries.recent_failures())

    assert await eventually(recorded, 5, "the cancel to be recorded") < 2.0
    (failure,) = await queries.recent_failures()
    assert (failure.job_id, failure.final) == (job_id, True)
    assert await scalar(aconn, "SELECT count(*) FROM {t}", queries.names.jobs) == 0
    assert manager.counters.canceled == 1


async def test_paused_entrypoint_is_not_taken_and_resume_wakes_an_idle_worker(
    worker: tuple[QueueManager, list[int]], queries: Queries, aconn: psycopg.AsyncConnection[Any]
) -> None:
    _, started = worker
    await queries.pause(["sleepy"], reason="downstream on fire")
    await asyncio.sleep(0.2)
    await queries.enqueue(["sleepy"] * 3, "0")
    await asyncio.sleep(1.0)
    assert started == []
    jobs = queries.names.jobs
    assert await scalar(aconn, "SELECT count(*) FROM {t} WHERE status = 'queued'", jobs) == 3
    await queries.resume(["sleepy"])

    async def all_ran() -> bool:
        return len(started) == 3

    assert await eventually(all_ran, 5, "the jobs after resume") < 1.0


async def test_timed_pause_ends_by_itself_without_a_notification(
    worker: tuple[QueueManager, list[int]], queries: Queries
) -> None:
    _, started = worker
    await queries.pause(["sleepy"], seconds=1.0)
    await asyncio.sleep(0.2)
    await queries.enqueue("sleepy", "0")

    async def ran() -> bool:
        return len(started) == 1

    took = await eventually(ran, 5, "the job after the pause ran out")
    assert 0.5 < took < 2.0


async def test_running_worker_is_registered_with_its_entrypoints_and_state(
    worker: tuple[QueueManager, list[int]], queries: Queries
) -> None:
    manager, _ = worker

    async def registered_running() -> bool:
        rows = [w for w in await queries.workers() if w.id == manager.worker_id]
        return bool(rows) and rows[0].state == "running"

    # The state change pokes a heartbeat: well within one heartbeat interval.
    assert await eventually(registered_running, 5, "the registry to show it running") < 0.5
    (row,) = [w for w in await queries.workers() if w.id == manager.worker_id]
    assert (row.entrypoints, row.concurrency) == (["sleepy"], 200)
    await manager.stop()
    assert [w for w in await queries.workers() if w.id == manager.worker_id] == []
