"""Jobs whose worker disappeared: re-taken by another worker (never by the same one), and
given up as a final failure once they were taken as often as their entrypoint allows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pgqtop import Job, QueueManager
from pgqtop.config import ObjectNames, Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import LostJob, WorkerIdentity
from pgqtop.db.worker import WorkerQueries
from tests.waiting import eventually

ROOM = 10


def age_heartbeats(conn: psycopg.Connection[Any], names: ObjectNames) -> None:
    conn.execute(
        sql.SQL("UPDATE {} SET heartbeat = now() - interval '1 hour'").format(
            sql.Identifier(names.jobs)
        )
    )


async def register(queries: WorkerQueries, host: str, pid: int) -> uuid.UUID:
    identity = WorkerIdentity(uuid.uuid4(), host, pid, "0", ["x"], ROOM)
    await queries.heartbeat(identity, [], in_flight=1, processed=0, failed=0)
    return identity.id


async def test_a_worker_never_retakes_a_stalled_job_it_still_holds(
    queries: ConsoleQueries, worker_queries: WorkerQueries, sync_conn: psycopg.Connection[Any]
) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    held, orphan = await queries.enqueue(["x", "x"])
    await worker_queries.dequeue({"x": ROOM}, ROOM, me, 30)
    age_heartbeats(sync_conn, queries.names)
    # A job it runs (or whose outcome it has yet to write) stays its own; one it took without
    # ever hearing of it (the reply to that take was lost) it takes again like anyone would.
    [again] = await worker_queries.dequeue({"x": ROOM}, ROOM, me, 30, held=[held])
    assert (again.id, again.attempts) == (orphan, 2)
    # Another worker takes the stalled job it held, as it would from a dead worker.
    [retaken] = await worker_queries.dequeue({"x": ROOM}, ROOM, other, 30)
    assert (retaken.id, retaken.attempts) == (held, 2)


async def test_a_job_lost_as_often_as_allowed_is_given_up_naming_the_last_worker(
    queries: ConsoleQueries, worker_queries: WorkerQueries, sync_conn: psycopg.Connection[Any]
) -> None:
    caps = {"x": 2}
    (job_id,) = await queries.enqueue("x", "payload")
    first = await register(worker_queries, "alpha", 101)
    await worker_queries.dequeue({"x": ROOM}, ROOM, first, 30, caps)
    age_heartbeats(sync_conn, queries.names)
    second = await register(worker_queries, "beta", 202)
    [again] = await worker_queries.dequeue({"x": ROOM}, ROOM, second, 30, caps)
    assert again.attempts == 2
    age_heartbeats(sync_conn, queries.names)

    third = await register(worker_queries, "gamma", 303)
    # Taken twice, lost twice: it does not run a third time.
    assert await worker_queries.dequeue({"x": ROOM}, ROOM, third, 30, caps) == []
    lost = await worker_queries.give_up_lost(caps, third, 30)

    reason = "worker lost 2 times: last seen on beta, pid 202"
    assert lost == [LostJob(job_id, "x", reason)]
    [failure] = await queries.recent_failures()
    assert (failure.job_id, failure.final, failure.attempts, failure.error) == (
        job_id,
        True,
        2,
        reason,
    )
    detail = await queries.failure_detail(failure.id)
    assert detail is not None and detail.payload == b"payload" and detail.worker_id == second
    assert await queries.count_matching(statuses=["queued", "picked"]) == 0
    assert await queries.recent_outcomes() == {("x", "exception"): 1}
    assert await worker_queries.give_up_lost(caps, third, 30) == []


async def test_failed_attempts_of_a_retry_policy_are_not_counted_as_losses(
    queries: ConsoleQueries, worker_queries: WorkerQueries, sync_conn: psycopg.Connection[Any]
) -> None:
    from pgqtop.model import Outcome, Status

    caps = {"x": 2}
    (job_id,) = await queries.enqueue("x")
    first = await register(worker_queries, "alpha", 101)
    await worker_queries.dequeue({"x": ROOM}, ROOM, first, 30, caps)
    failed = Outcome(job_id, Status.EXCEPTION, 0.1, "boom", "tb", retry_in=0)
    await worker_queries.complete([failed], first)
    await worker_queries.dequeue({"x": ROOM}, ROOM, first, 30, caps)
    age_heartbeats(sync_conn, queries.names)

    [lost] = await worker_queries.give_up_lost(caps, uuid.uuid4(), 30)
    assert lost.error == "worker lost once: last seen on alpha, pid 101"


async def test_the_engine_gives_up_a_job_lost_three_times_and_retakes_one_lost_twice(
    fast: Settings,
    queries: ConsoleQueries,
    sync_conn: psycopg.Connection[Any],
    running: Callable[[QueueManager], None],
) -> None:
    """No retry policy: a job may be taken three times (it survives two lost workers)."""
    fast.engine.retry_timer = 1.0
    ran: list[tuple[int, int]] = []
    manager = QueueManager(fast)

    @manager.entrypoint("x")
    async def x(job: Job) -> None:
        ran.append((job.id, job.attempts))

    gone = uuid.uuid4()  # a worker that never registered, or was pruned
    insert = sql.SQL(
        "INSERT INTO {} (entrypoint, status, attempts, heartbeat, worker_id)"
        " VALUES ('x', 'picked', %s, now() - interval '1 hour', %s) RETURNING id"
    ).format(sql.Identifier(queries.names.jobs))
    (thrice,) = sync_conn.execute(insert, (3, gone)).fetchone() or (0,)
    (twice,) = sync_conn.execute(insert, (2, gone)).fetchone() or (0,)
    running(manager)

    async def settled() -> bool:
        return await queries.count_matching(statuses=["queued", "picked"]) == 0

    await eventually(settled, 15, "both jobs to end")
    assert ran == [(twice, 3)]
    [failure] = await queries.recent_failures()
    assert failure.job_id == thrice
    assert failure.error == "worker lost 3 times: last seen on a worker no longer registered"
