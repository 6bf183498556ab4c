"""Every job is completed exactly once when nothing crashes, in one process and across many."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path
from typing import Any

import psycopg

from pgqtop import QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import NewJob, Outcome, Status
from tests.engine import jobs_factory
from tests.engine.conftest import headless, scalar
from tests.waiting import eventually

JOBS = 20_000


async def enqueue_spread(queries: ConsoleQueries, count: int) -> None:
    names = jobs_factory.ENTRYPOINTS
    await queries.enqueue_bulk(NewJob(names[i % len(names)], priority=i % 3) for i in range(count))


async def assert_each_ran_once(
    aconn: psycopg.AsyncConnection[Any], queries: ConsoleQueries, done: str, count: int
) -> None:
    assert await scalar(aconn, "SELECT count(*) FROM {t}", done) == count
    assert await scalar(aconn, "SELECT max(seen) FROM {t}", done) == 1
    assert await scalar(aconn, "SELECT count(*) FROM {t}", queries.names.jobs) == 0
    successful = await scalar(
        aconn, "SELECT sum(count) FROM {t} WHERE status = 'successful'", queries.names.statistics
    )
    assert successful == count
    assert await scalar(aconn, "SELECT count(*) FROM {t}", queries.names.failures) == 0


async def test_three_managers_in_one_process_run_every_job_exactly_once(
    fast: Settings, queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any], done: str
) -> None:
    await enqueue_spread(queries, JOBS)
    managers = [QueueManager(fast) for _ in range(3)]
    for manager in managers:
        await jobs_factory.register(manager)
    runs = [asyncio.create_task(m.run()) for m in managers]

    async def drained() -> bool:
        return sum(m.counters.succeeded for m in managers) >= JOBS

    await eventually(drained, 60, "20,000 jobs")
    await asyncio.gather(*(m.stop() for m in managers))
    await asyncio.gather(*runs)
    assert all(m.counters.taken > 0 for m in managers), "every manager took a share"
    await assert_each_ran_once(aconn, queries, done, JOBS)
    assert await scalar(aconn, "SELECT count(*) FROM {t}", queries.names.workers) == 0


async def test_three_headless_processes_run_every_job_exactly_once(
    fast: Settings,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    done: str,
    tmp_path: Path,
) -> None:
    await enqueue_spread(queries, JOBS)
    log = tmp_path / "workers.log"
    workers = [
        headless(
            fast, log, "--factory", "tests.engine.jobs_factory:register", "--log-level", "warning"
        )
        for _ in range(3)
    ]
    try:

        async def drained() -> bool:
            return int(await scalar(aconn, "SELECT count(*) FROM {t}", done)) >= JOBS

        await eventually(drained, 90, "20,000 jobs", step=0.1)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(w.wait, 30) for w in workers]
    assert codes == [0, 0, 0], log.read_text()
    await assert_each_ran_once(aconn, queries, done, JOBS)
    assert await scalar(aconn, "SELECT count(*) FROM {t}", queries.names.workers) == 0


async def test_two_outcomes_of_one_job_in_one_flush_count_it_once(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    """A job that ran twice in one worker (it re-took it after a reconnect) and whose two
    outcomes reach the same flush: the completion that deletes the row counts it, once."""
    worker = uuid.uuid4()
    ids = await queries.enqueue(["twice", "twice", "failing"])
    await worker_queries.dequeue({"twice": 10, "failing": 10}, 10, worker, 0)
    outcomes = [
        Outcome(ids[0], Status.SUCCESSFUL, 0.1),
        Outcome(ids[1], Status.SUCCESSFUL, 0.1),
        Outcome(ids[0], Status.SUCCESSFUL, 0.2),
        Outcome(ids[2], Status.EXCEPTION, 0.1, "boom", "tb"),
        Outcome(ids[2], Status.EXCEPTION, 0.1, "boom", "tb", retry_in=5),
    ]
    result = await worker_queries.complete(outcomes, worker)

    assert (result.finished, result.retried, result.failures_recorded) == (3, 0, 1)
    counts = {("twice", "successful"): 2, ("failing", "exception"): 1}
    assert await queries.recent_outcomes() == counts
    assert len(await queries.recent_failures()) == 1
