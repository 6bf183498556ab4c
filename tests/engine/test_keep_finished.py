"""A running worker keeps each finished job's end for `pgqtop job`, naming itself by host and
pid, unless its settings keep none."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from pgqtop import Job, QueueManager, operations
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.operations import JobState
from tests.waiting import eventually


def worker(settings: Settings) -> QueueManager:
    manager = QueueManager(settings)

    @manager.entrypoint("kept")
    async def kept(job: Job) -> None:
        if job.text() == "fail":
            raise ValueError("asked to fail")

    return manager


async def no_jobs_left(queries: ConsoleQueries) -> bool:
    return not await queries.queue_counts()


async def test_a_worker_keeps_each_end_with_its_host_and_pid(
    fast: Settings, queries: ConsoleQueries, running: Callable[[QueueManager], None]
) -> None:
    manager = worker(fast)
    ok, bad = await queries.enqueue(["kept", "kept"], ["fine", "fail"])
    running(manager)
    await eventually(lambda: no_jobs_left(queries), 15, "both jobs to finish")

    succeeded = await operations.job_story(queries, ok)
    failed = await operations.job_story(queries, bad)

    assert succeeded is not None and succeeded.status == JobState.SUCCEEDED
    assert failed is not None and failed.status == JobState.FAILED
    assert failed.failures[0].error == "ValueError: asked to fail"
    assert succeeded.worker is not None and succeeded.worker.id == manager.worker_id
    assert (succeeded.worker.host, succeeded.worker.pid) == (socket.gethostname(), os.getpid())


async def test_a_worker_set_to_keep_nothing_keeps_nothing(
    fast: Settings, queries: ConsoleQueries, running: Callable[[QueueManager], None]
) -> None:
    fast.keep_finished_seconds = 0
    (job_id,) = await queries.enqueue("kept", "fine")
    running(worker(fast))
    await eventually(lambda: no_jobs_left(queries), 15, "the job to finish")

    assert await operations.job_story(queries, job_id) is None
