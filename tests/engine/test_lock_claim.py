"""The lock claim (engine/lanes.py): batches held by row locks in a short transaction.

Each test runs real managers with `claim = "lock"` against PostgreSQL and checks a guarantee
the update claim gives too: every outcome written once with its attempt, retries and failures
recorded, jobs still running at the deadline handed over as picked jobs (no transaction open
long), a stopped worker's unfinished jobs queued again, and nothing left named in the claims
table once the batches ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.model import NewJob
from tests.engine.conftest import scalar
from tests.waiting import eventually


def lock_settings(fast: Settings, **engine: Any) -> Settings:
    fast.engine = dataclasses.replace(fast.engine, claim="lock", **engine)
    return fast


async def rows(aconn: psycopg.AsyncConnection[Any], query: str, table: str) -> list[Any]:
    cur = await aconn.execute(sql.SQL(query).format(t=sql.Identifier(table)))  # type: ignore[arg-type]
    return list(await cur.fetchall())


async def test_a_lock_claimed_drain_writes_every_outcome_once_with_its_attempt(
    fast: Settings,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    running: Callable[[QueueManager], None],
) -> None:
    settings = lock_settings(fast, batch_size=50, lanes=2)
    manager = QueueManager(settings)
    ran: dict[int, int] = {}

    @manager.entrypoint("fine")
    async def fine(job: Job) -> None:
        ran[job.id] = ran.get(job.id, 0) + 1

    @manager.entrypoint("flaky", retry=QueueManager.retry(max_attempts=2, initial_delay=0.05))
    async def flaky(job: Job) -> None:
        ran[job.id] = ran.get(job.id, 0) + 1
        if job.attempts == 1:
            raise RuntimeError("first attempt fails")

    @manager.entrypoint("broken")
    async def broken(job: Job) -> None:
        raise ValueError("always")

    await queries.enqueue_bulk(NewJob("fine") for _ in range(600))
    flaky_ids = await queries.enqueue(["flaky"] * 5, [None] * 5)
    (broken_id,) = await queries.enqueue("broken")
    running(manager)
    names = queries.names

    async def drained() -> bool:
        return int(await scalar(aconn, "SELECT count(*) FROM {t}", names.jobs)) == 0

    await eventually(drained, 30, "every job to end")

    assert len(ran) == 605 and set(ran.values()) == {1, 2}
    assert all(ran[i] == 2 for i in flaky_ids)
    counts = dict(
        await rows(
            aconn, "SELECT status::text, sum(count)::int FROM {t} GROUP BY 1", names.statistics
        )
    )
    assert counts == {"successful": 605, "exception": 1}
    failures = await rows(
        aconn, "SELECT job_id, attempts, final FROM {t} ORDER BY job_id, attempts", names.failures
    )
    assert sorted(failures) == sorted([(i, 1, False) for i in flaky_ids] + [(broken_id, 1, True)])
    kept = dict(await rows(aconn, "SELECT job_id, attempts FROM {t}", names.finished))
    assert len(kept) == 606
    assert all(kept[i] == 2 for i in flaky_ids) and kept[broken_id] == 1
    assert {a for i, a in kept.items() if i not in flaky_ids} == {1}
    assert manager.counters.succeeded == 605
    named = await rows(aconn, "SELECT ids FROM {t} WHERE cardinality(ids) > 0", names.claims)
    assert named == [], "a finished batch leaves nothing named in its lane's row"


async def test_a_job_running_past_the_deadline_becomes_picked_and_commits_the_batch(
    fast: Settings,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    running: Callable[[QueueManager], None],
) -> None:
    settings = lock_settings(fast, claim_deadline=0.1, lanes=1)
    manager = QueueManager(settings)
    release = asyncio.Event()

    @manager.entrypoint("slow")
    async def slow(job: Job) -> None:
        await release.wait()

    (job_id,) = await queries.enqueue("slow")
    running(manager)
    names = queries.names

    async def picked() -> bool:
        found = await rows(aconn, "SELECT status::text, worker_id, attempts FROM {t}", names.jobs)
        return found == [("picked", manager.worker_id, 1)]

    await eventually(picked, 10, "the running job to be marked picked at the deadline")
    # The batch's transaction committed: while the job runs on, no session of this worker
    # stays in a transaction longer than a short take does.
    for _ in range(5):
        long_open = await (
            await aconn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s"
                " AND xact_start < now() - interval '0.3 seconds'",
                (f"%{str(manager.worker_id)[:8]}",),
            )
        ).fetchone()
        assert long_open == (0,)
        await asyncio.sleep(0.1)
    release.set()

    async def gone() -> bool:
        return int(await scalar(aconn, "SELECT count(*) FROM {t}", names.jobs)) == 0

    await eventually(gone, 10, "the handed-over job to be completed by the buffer")
    kept = await rows(aconn, "SELECT job_id, status::text, attempts FROM {t}", names.finished)
    assert kept == [(job_id, "successful", 1)]


async def test_jobs_interrupted_by_a_stop_are_queued_again_not_left_picked(
    fast: Settings, queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any]
) -> None:
    settings = lock_settings(fast, claim_deadline=30.0, shutdown_grace=0.2)
    manager = QueueManager(settings)
    started = asyncio.Event()

    @manager.entrypoint("endless")
    async def endless(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    await queries.enqueue(["endless"] * 3, [None] * 3)
    task = asyncio.create_task(manager.run())
    await asyncio.wait_for(started.wait(), 10)
    await manager.stop(grace=0.2)
    await task

    found = await rows(
        aconn, "SELECT status::text, worker_id, attempts FROM {t}", queries.names.jobs
    )
    assert found == [("queued", None, 0)] * 3


async def test_a_batch_held_by_a_worker_that_died_counts_as_a_lost_attempt(
    fast: Settings, queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any]
) -> None:
    """A lane's row still naming a job (its holder died before the batch ended) makes the next
    take count one lost attempt; at max_attempts the job is given up without running."""
    settings = lock_settings(fast)
    manager = QueueManager(settings)
    ran: list[int] = []

    @manager.entrypoint("survivor", retry=QueueManager.retry(max_attempts=3))
    async def survivor(job: Job) -> None:
        ran.append(job.attempts)

    @manager.entrypoint("poison", retry=QueueManager.retry(max_attempts=2))
    async def poison(job: Job) -> None:
        ran.append(-1)

    (survivor_id,) = await queries.enqueue("survivor")
    (poison_id,) = await queries.enqueue("poison")
    names = queries.names
    dead = "00000000-0000-0000-0000-00000000dead"
    for lane, ids in ((0, [survivor_id, poison_id]), (1, [poison_id])):
        await aconn.execute(
            sql.SQL(
                "INSERT INTO {} (worker_id, lane, ids, lo, hi) VALUES (%s, %s, %s, %s, %s)"
            ).format(sql.Identifier(names.claims)),
            (dead, lane, ids, min(ids), max(ids)),
        )
    task = asyncio.create_task(manager.run())

    async def gone() -> bool:
        return int(await scalar(aconn, "SELECT count(*) FROM {t}", names.jobs)) == 0

    try:
        await eventually(gone, 15, "both jobs to end")
    finally:
        await manager.stop(grace=1)
        await task

    assert ran == [2], "the survivor ran once, as its second attempt; the poison never ran"
    final = await rows(aconn, "SELECT job_id, attempts, error FROM {t} WHERE final", names.failures)
    assert len(final) == 1 and final[0][:2] == (poison_id, 2)
    assert final[0][2] == "worker lost 2 times while holding it in a lock-claimed batch"
    named = await rows(aconn, "SELECT ids FROM {t} WHERE cardinality(ids) > 0", names.claims)
    assert named == [], "the lost attempts counted are no longer named"


async def test_the_console_sees_a_lock_held_job_in_flight_on_its_worker(
    fast: Settings, queries: ConsoleQueries, running: Callable[[QueueManager], None]
) -> None:
    """Still queued in the jobs table while its batch is held, the job is listed among the
    jobs its worker holds, then as picked once the deadline marks it."""
    settings = lock_settings(fast, claim_deadline=1.0, lanes=1)
    manager = QueueManager(settings)
    release = asyncio.Event()

    @manager.entrypoint("held")
    async def held(job: Job) -> None:
        await release.wait()

    (job_id,) = await queries.enqueue("held")
    running(manager)

    async def listed() -> bool:
        found = await queries.in_flight(manager.worker_id)
        return [(j.worker_id, j.id, j.attempts) for j in found] == [(manager.worker_id, job_id, 1)]

    await eventually(listed, 10, "the held job to be listed on its worker")
    story = await queries.live_job(job_id)
    assert story is not None and story[0].status.value == "queued"
    release.set()
