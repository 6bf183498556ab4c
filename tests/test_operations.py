"""`pgqtop.operations` against a real database: what each operator action writes, and that what
it reports (a count before a purge, whether an entrypoint is known) matches what happened."""

from __future__ import annotations

import getpass
import json
import socket
import uuid
from typing import Any

import psycopg
import pytest

from pgqtop import operations
from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import WorkerIdentity
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import ALL_ENTRYPOINTS, DuplicateJob, NewJob, OnDuplicate, Outcome, Status
from tests.test_schema import sq


def control_rows(conn: psycopg.Connection[Any], names: ObjectNames) -> list[tuple[Any, ...]]:
    return conn.execute(
        sq("SELECT entrypoint, paused_by, reason FROM {control} ORDER BY entrypoint", names)
    ).fetchall()


async def fail_one(queries: ConsoleQueries, worker_queries: WorkerQueries, entrypoint: str) -> int:
    """Enqueue, take and finally fail one job; returns the failure's id."""
    (job_id,) = await queries.enqueue(entrypoint, b"{}")
    worker = uuid.uuid4()
    await worker_queries.dequeue({entrypoint: 1}, 1, worker, 30.0)
    await worker_queries.complete([Outcome(job_id, Status.EXCEPTION, 0.01, "boom", "tb")], worker)
    (failure,) = await queries.recent_failures(1, entrypoint)
    return failure.id


def test_the_operator_is_the_os_user_at_this_host() -> None:
    assert operations.operator_identity() == f"{getpass.getuser()}@{socket.gethostname()}"


async def test_pause_records_the_operator_and_the_reason(
    queries: ConsoleQueries, names: ObjectNames, sync_conn: psycopg.Connection[Any]
) -> None:
    await queries.enqueue("mail")
    done = await operations.pause(queries, "mail", seconds=600, reason="smtp down")
    assert (done.target, done.seconds, done.reason, done.known) == ("mail", 600, "smtp down", True)
    assert done.by == operations.operator_identity()
    assert control_rows(sync_conn, names) == [("mail", done.by, "smtp down")]
    (info,) = await queries.paused()
    assert info.remaining_seconds is not None and 590 < info.remaining_seconds <= 600


async def test_an_unknown_entrypoint_is_paused_and_reported_as_unknown(
    queries: ConsoleQueries, names: ObjectNames, sync_conn: psycopg.Connection[Any]
) -> None:
    await queries.enqueue("mail")
    done = await operations.pause(queries, "mial")
    assert done.known is False
    assert [row[0] for row in control_rows(sync_conn, names)] == ["mial"]
    everything = await operations.pause(queries, ALL_ENTRYPOINTS)
    assert everything.known is True  # the pause of everything names no entrypoint


async def test_an_entrypoint_is_known_by_a_worker_by_recent_work_or_by_a_job(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
) -> None:
    assert not await operations.is_known(queries, "by_worker")
    identity = WorkerIdentity(uuid.uuid4(), "host-a", 1, "0.1.0", ["by_worker"], 10)
    await worker_queries.heartbeat(identity, [], in_flight=0, processed=0, failed=0)
    assert await operations.is_known(queries, "by_worker")

    await fail_one(
        queries, worker_queries, "by_statistics"
    )  # the job is gone; its statistics remain
    assert await queries.queue_counts() == []
    assert await operations.is_known(queries, "by_statistics")

    await queries.enqueue("by_job")
    assert await operations.is_known(queries, "by_job")
    assert not await operations.is_known(queries, "by_nothing")


async def test_resume_lifts_one_key_and_says_when_everything_is_still_paused(
    queries: ConsoleQueries,
) -> None:
    await operations.pause(queries, "a")
    await operations.pause(queries, "b")
    await operations.pause(queries, ALL_ENTRYPOINTS)
    resumed = await operations.resume(queries, "a")
    assert (resumed.lifted, resumed.still_paused_all) == (1, True)
    again = await operations.resume(queries, "a")
    assert (again.lifted, again.still_paused_all) == (0, False)
    # Lifting the pause of everything leaves the single pauses in force.
    star = await operations.resume(queries, ALL_ENTRYPOINTS)
    assert (star.lifted, star.still_paused_all) == (1, False)
    assert [p.entrypoint for p in await queries.paused()] == ["b"]
    assert await operations.resume_all(queries) == 1
    assert await queries.paused() == []


async def test_the_count_shown_before_a_purge_is_the_number_deleted(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    await queries.enqueue(["mail"] * 7 + ["sms"] * 2)
    await worker_queries.dequeue({"mail": 2}, 2, uuid.uuid4(), 30.0)  # two mail jobs running

    plan = await operations.plan_purge(queries, ["mail"])
    assert (plan.entrypoints, plan.statuses, plan.count) == (("mail",), ("queued",), 5)
    assert await operations.execute_purge(queries, plan) == 5
    assert await queries.count_matching(["mail"], ["queued"]) == 0
    assert await queries.count_matching(["mail"], ["picked"]) == 2
    assert await queries.count_matching(["sms"]) == 2

    running = await operations.plan_purge(queries, ["mail"], ["picked"])
    assert running.count == 2
    assert await operations.execute_purge(queries, running) == 2

    everything = await operations.plan_purge(queries)
    assert (everything.entrypoints, everything.count) == (None, 2)
    assert await operations.execute_purge(queries, everything) == 2
    assert (await operations.plan_purge(queries)).count == 0


async def test_requeue_one_failure_once_then_all_of_an_entrypoint_by_its_count(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
) -> None:
    first = await fail_one(queries, worker_queries, "mail")
    await fail_one(queries, worker_queries, "mail")
    await fail_one(queries, worker_queries, "mail")
    await fail_one(queries, worker_queries, "sms")

    assert await operations.requeue_failure(queries, first) is True
    assert await operations.requeue_failure(queries, first) is False
    plan = await operations.plan_requeue(queries, "mail")
    assert (plan.entrypoint, plan.count) == ("mail", 2)
    assert await operations.execute_requeue(queries, plan) == 2
    assert await queries.count_matching(["mail"]) == 3
    assert await queries.count_matching(["sms"]) == 0
    assert (await operations.plan_requeue(queries, "mail")).count == 0


async def test_cancel_asks_the_fleet_on_the_channel(
    queries: ConsoleQueries, worker_queries: WorkerQueries, names: ObjectNames, dsn: str
) -> None:
    # A cancel is now a request written on running jobs: only those are asked for and named.
    running = await queries.enqueue(["mail", "mail"])
    (waiting,) = await queries.enqueue("mail")
    await worker_queries.dequeue({"mail": 2}, 2, uuid.uuid4(), 30.0)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as listener:
        await listener.execute(sq("LISTEN {channel}", names))
        assert await operations.cancel_jobs(queries, [*running, waiting]) == 2
        payloads = [n.payload async for n in listener.notifies(timeout=2, stop_after=2)]
    # The request names the running jobs only; then its audit entry, as its own event.
    events = [json.loads(p) for p in payloads]
    assert events[0] == {"op": "cancel", "job_ids": running}
    assert [(e["op"], e["action"], e["count"]) for e in events[1:]] == [("audit", "cancel", 2)]


async def test_enqueue_returns_the_ids_and_follows_the_duplicate_policy(
    queries: ConsoleQueries,
) -> None:
    job = NewJob("mail", b"hello", priority=3, dedupe_key="m-1")
    (job_id,) = await operations.enqueue(queries, [job])
    (stored,) = await queries.browse_jobs(entrypoint="mail")
    assert (stored.id, stored.payload, stored.priority) == (job_id, b"hello", 3)
    assert await operations.enqueue(queries, [job], OnDuplicate.SKIP) == []
    with pytest.raises(DuplicateJob):
        await operations.enqueue(queries, [job])


async def test_the_snapshot_counts_finished_work_but_not_purged_jobs(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    worker = uuid.uuid4()
    await queries.enqueue(["a"] * 5 + ["b"])
    taken = await worker_queries.dequeue({"a": 3}, 3, worker, 0)
    await worker_queries.complete(
        [
            Outcome(taken[0].id, Status.SUCCESSFUL, 0.1),
            Outcome(taken[1].id, Status.EXCEPTION, 0.1, "boom", "tb"),
        ],
        worker,
    )
    await operations.execute_purge(queries, await operations.plan_purge(queries, ["b"]))
    await operations.pause(queries, "a", reason="look")
    await operations.pause(queries, ALL_ENTRYPOINTS, reason="deploy")

    found = await operations.snapshot(queries)
    by_name = {e.entrypoint: e for e in found.entrypoints}
    a = by_name["a"]
    assert (a.queued, a.picked, a.completed_last_minute, a.failed_last_hour) == (2, 1, 2, 1)
    assert a.paused is not None and a.paused.reason == "look"
    assert a.paused.by == operations.operator_identity()
    assert found.paused_all is not None and found.paused_all.reason == "deploy"
    # 'b' was only purged: no work done, nothing waiting, so it is not listed at all.
    assert "b" not in by_name
    assert operations.completed_by_entrypoint(
        {("a", "successful"): 2, ("a", "deleted"): 9, ("b", "canceled"): 1}
    ) == {"a": 2, "b": 1}


async def test_a_workers_jobs_are_the_picked_rows_it_holds_longest_running_first(
    queries: ConsoleQueries, worker_queries: WorkerQueries, sync_conn: psycopg.Connection[Any]
) -> None:
    names = queries.names
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    ids = await queries.enqueue(["w"] * 4)
    await worker_queries.dequeue({"w": 2}, 2, mine, 0)
    await worker_queries.dequeue({"w": 1}, 1, theirs, 0)
    sync_conn.execute(
        sq("UPDATE {jobs} SET updated = now() - interval '1 minute' WHERE id = %s", names),
        (ids[1],),
    )

    held = await operations.worker_jobs(queries, mine)

    assert [j.id for j in held] == [ids[1], ids[0]]
    assert all(j.worker_id == mine and j.entrypoint == "w" for j in held)
    assert held[0].running_seconds >= 60 > held[1].running_seconds
    assert [j.id for j in await operations.worker_jobs(queries, theirs)] == [ids[2]]
    assert await operations.worker_jobs(queries, uuid.uuid4()) == []
