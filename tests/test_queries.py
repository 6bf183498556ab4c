"""The statements behind the queue: enqueue, dequeue, complete, purge, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.producer import Queries, SyncQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.errors import PayloadTooLarge, UsageError
from pgqtop.model import DuplicateJob, NewJob, OnDuplicate, Outcome, Status
from tests.test_schema import sq

ROOM = 1000


def rows(conn: psycopg.Connection[Any], text: Any, params: Any = None) -> list[tuple[Any, ...]]:
    return conn.execute(text, params).fetchall()


def job_rows(conn: psycopg.Connection[Any], names: ObjectNames) -> list[tuple[Any, ...]]:
    return rows(
        conn,
        sq("SELECT id, entrypoint, priority, status::text FROM {jobs} ORDER BY id", names),
    )


# --- enqueue ------------------------------------------------------------------------------------


async def test_enqueue_one_job_stores_every_field(
    queries: ConsoleQueries, sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    [job_id] = await queries.enqueue(
        "mail", b"\x00\xffraw", 7, headers={"trace": "abc"}, execute_after=30, dedupe_key="m1"
    )
    row = rows(
        sync_conn,
        sq(
            "SELECT entrypoint, payload, priority, headers, dedupe_key, status::text,"
            " round(extract(epoch FROM execute_after - created)) FROM {jobs} WHERE id = %s",
            names,
        ),
        (job_id,),
    )
    assert row == [("mail", b"\x00\xffraw", 7, {"trace": "abc"}, "m1", "queued", 30)]


async def test_enqueue_a_batch_in_one_call_returns_every_id(
    queries: ConsoleQueries, sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    ids = await queries.enqueue(["a", "b", "a"], ["1", "2", "3"], [0, 5, 1])
    assert len(ids) == 3
    assert [(r[1], r[2]) for r in job_rows(sync_conn, names)] == [("a", 0), ("b", 5), ("a", 1)]


async def test_bulk_enqueue_copies_thousands_of_jobs(
    queries: ConsoleQueries, sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    count = await queries.enqueue_bulk(NewJob("bulk", f"{i}", i % 3) for i in range(5000))
    assert count == 5000
    summary = rows(
        sync_conn,
        sq("SELECT count(*), count(DISTINCT payload), max(priority) FROM {jobs}", names),
    )
    assert summary == [(5000, 5000, 2)]


async def test_sync_producer_enqueues_single_and_batches(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    producer = SyncQueries(sync_conn, names)
    assert len(producer.enqueue("sync-one", "x")) == 1
    assert len(producer.enqueue(["sync-many"] * 4, payload=None, priority=2)) == 4
    assert len(job_rows(sync_conn, names)) == 5


async def test_dedupe_error_policy_refuses_a_second_waiting_job(
    queries: ConsoleQueries, sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    await queries.enqueue("d", dedupe_key="k")
    with pytest.raises(DuplicateJob):
        await queries.enqueue("d", dedupe_key="k")
    assert len(job_rows(sync_conn, names)) == 1


async def test_dedupe_skip_policy_keeps_the_first_job(
    queries: ConsoleQueries, sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    first = await queries.enqueue("d", "first", dedupe_key="k")
    skipped = await queries.enqueue("d", "second", dedupe_key="k", on_duplicate=OnDuplicate.SKIP)
    assert skipped == []
    payloads = rows(sync_conn, sq("SELECT id, payload FROM {jobs}", names))
    assert payloads == [(first[0], b"first")]


async def test_dedupe_keep_higher_priority_raises_but_never_lowers(
    queries: ConsoleQueries, sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    policy = OnDuplicate.KEEP_HIGHER_PRIORITY
    await queries.enqueue("d", priority=3, dedupe_key="k")
    await queries.enqueue("d", priority=9, dedupe_key="k", on_duplicate=policy)
    await queries.enqueue("d", priority=1, dedupe_key="k", on_duplicate=policy)
    assert [r[2] for r in job_rows(sync_conn, names)] == [9]


@pytest.mark.parametrize("as_batch", [False, True], ids=["one job", "batch"])
async def test_each_dedupe_policy_acts_the_same_on_one_job_and_on_a_batch(
    queries: ConsoleQueries, sync_conn: psycopg.Connection[Any], names: ObjectNames, as_batch: bool
) -> None:
    """One job goes in as VALUES, a batch through unnest: both shapes obey every policy."""
    await queries.enqueue("d", priority=3, dedupe_key="k")

    async def send(priority: int, policy: OnDuplicate) -> list[int]:
        if as_batch:  # a keyless second job makes it a two-row batch
            return await queries.enqueue(
                ["d", "other"], None, [priority, 0], dedupe_key=["k", None], on_duplicate=policy
            )
        return await queries.enqueue("d", None, priority, dedupe_key="k", on_duplicate=policy)

    with pytest.raises(DuplicateJob):
        await send(5, OnDuplicate.ERROR)
    skipped = await send(5, OnDuplicate.SKIP)
    await send(9, OnDuplicate.KEEP_HIGHER_PRIORITY)
    await send(1, OnDuplicate.KEEP_HIGHER_PRIORITY)

    keyed = rows(sync_conn, sq("SELECT priority FROM {jobs} WHERE dedupe_key = 'k'", names))
    assert keyed == [(9,)]
    assert len(skipped) == (1 if as_batch else 0)  # only the keyless job got in
    assert len(job_rows(sync_conn, names)) == (4 if as_batch else 1)


async def test_dedupe_key_is_free_again_once_the_job_is_done(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    worker = uuid.uuid4()
    await queries.enqueue("d", dedupe_key="k")
    [job] = await worker_queries.dequeue({"d": ROOM}, 10, worker, 0)
    await worker_queries.complete([Outcome(job.id, Status.SUCCESSFUL, 0.1)], worker)
    assert len(await queries.enqueue("d", dedupe_key="k")) == 1


async def test_oversize_payload_and_reserved_entrypoint_are_refused_before_any_write(
    names: ObjectNames, aconn: psycopg.AsyncConnection[Any], sync_conn: psycopg.Connection[Any]
) -> None:
    small = Queries(aconn, names, max_payload_bytes=10)
    with pytest.raises(PayloadTooLarge):
        await small.enqueue(["ok", "big"], [b"fine", b"x" * 11])
    with pytest.raises(UsageError):
        await small.enqueue("*")
    assert job_rows(sync_conn, names) == []


# --- dequeue ------------------------------------------------------------------------------------


async def test_dequeue_takes_highest_priority_first_then_oldest(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    ids = await queries.enqueue(["q"] * 6, priority=[0, 5, 0, 5, 9, 0])
    jobs = await worker_queries.dequeue({"q": ROOM}, 4, uuid.uuid4(), 0)
    assert [j.id for j in jobs] == [ids[4], ids[1], ids[3], ids[0]]
    assert all(j.status is Status.PICKED and j.attempts == 1 for j in jobs)


async def test_a_dequeued_job_equals_its_row_read_back_from_the_table(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    """The dequeue returns fewer columns and fills in what the worker already knows; the
    result must be the row exactly as stored."""
    worker = uuid.uuid4()
    await queries.enqueue("x", b"payload", 4, headers={"h": 1}, dedupe_key="k")
    [taken] = await worker_queries.dequeue({"x": ROOM}, 10, worker, 0)
    stored = await queries.job_detail(taken.id)
    assert stored is not None
    assert taken == stored
    assert (taken.status, taken.worker_id, taken.attempts) == (Status.PICKED, worker, 1)


async def test_dequeue_waits_for_execute_after(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    await queries.enqueue("later", execute_after=60)
    [now_id] = await queries.enqueue("later")
    jobs = await worker_queries.dequeue({"later": ROOM}, 10, uuid.uuid4(), 0)
    assert [j.id for j in jobs] == [now_id]


async def test_dequeue_takes_only_the_requested_entrypoints_within_their_room(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
) -> None:
    await queries.enqueue(["a"] * 5 + ["b"] * 5 + ["c"] * 5)
    jobs = await worker_queries.dequeue({"a": 2, "b": ROOM}, 100, uuid.uuid4(), 0)
    taken = sorted(j.entrypoint for j in jobs)
    assert taken == ["a", "a"] + ["b"] * 5


async def test_dequeue_skips_rows_locked_by_another_transaction(
    queries: ConsoleQueries, worker_queries: WorkerQueries, dsn: str, names: ObjectNames
) -> None:
    ids = await queries.enqueue(["s"] * 10)
    other = await psycopg.AsyncConnection.connect(dsn)
    try:
        async with other.transaction():
            held = await WorkerQueries(other, names).dequeue({"s": ROOM}, 4, uuid.uuid4(), 0)
            assert [j.id for j in held] == ids[:4]
            # The first transaction has not committed: its rows are locked, not yet 'picked'.
            mine = await worker_queries.dequeue({"s": ROOM}, 10, uuid.uuid4(), 0)
            assert [j.id for j in mine] == ids[4:]
    finally:
        await other.close()


async def test_stalled_picked_job_is_taken_again_after_the_retry_timer(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    [job_id] = await queries.enqueue("stall")
    await worker_queries.dequeue({"stall": ROOM}, 10, first, 30)
    assert await worker_queries.dequeue({"stall": ROOM}, 10, second, 30) == []

    sync_conn.execute(sq("UPDATE {jobs} SET heartbeat = now() - interval '31 seconds'", names))
    [retaken] = await worker_queries.dequeue({"stall": ROOM}, 10, second, 30)

    assert (retaken.id, retaken.worker_id, retaken.attempts) == (job_id, second, 2)
    # The worker that lost the job can no longer finish it.
    lost = await worker_queries.complete([Outcome(job_id, Status.SUCCESSFUL, 1.0)], first)
    assert lost.finished == 0
    assert len(job_rows(sync_conn, names)) == 1


async def test_paused_entrypoint_is_not_dequeued_until_resumed(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    await queries.enqueue(["p", "p", "other"])
    await queries.pause(["p"], by="test")
    jobs = await worker_queries.dequeue({"p": ROOM, "other": ROOM}, 10, uuid.uuid4(), 0)
    assert [j.entrypoint for j in jobs] == ["other"]

    assert await queries.resume(["p"]) == 1
    jobs = await worker_queries.dequeue({"p": ROOM}, 10, uuid.uuid4(), 0)
    assert [j.entrypoint for j in jobs] == ["p", "p"]


async def test_timed_pause_lifts_by_itself(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    await queries.enqueue("t")
    await queries.pause(["t"], seconds=0.3)
    assert await worker_queries.dequeue({"t": ROOM}, 10, uuid.uuid4(), 0) == []
    await asyncio.sleep(0.4)
    assert len(await worker_queries.dequeue({"t": ROOM}, 10, uuid.uuid4(), 0)) == 1


# --- completion ---------------------------------------------------------------------------------


async def test_completion_deletes_records_failures_retries_and_counts_in_one_call(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    worker = uuid.uuid4()
    await queries.enqueue(["c"] * 5, priority=2)
    # Each job waited exactly 10 s before it was taken.
    sync_conn.execute(
        sq(
            "UPDATE {jobs} SET created = now() - interval '10 seconds',"
            " execute_after = now() - interval '10 seconds'",
            names,
        )
    )
    jobs = await worker_queries.dequeue({"c": ROOM}, 10, worker, 0)
    outcomes = [
        Outcome(jobs[0].id, Status.SUCCESSFUL, 0.5),
        Outcome(jobs[1].id, Status.SUCCESSFUL, 1.5),
        Outcome(jobs[2].id, Status.SUCCESSFUL, 2.0),
        Outcome(jobs[3].id, Status.EXCEPTION, 0.25, "ValueError: bad", "Traceback ..."),
        Outcome(jobs[4].id, Status.EXCEPTION, 0.1, "Timeout", "tb", retry_in=60),
    ]

    result = await worker_queries.complete(outcomes, worker)

    assert (result.finished, result.retried, result.failures_recorded) == (4, 1, 2)
    assert [(r[0], r[3]) for r in job_rows(sync_conn, names)] == [(jobs[4].id, "queued")]
    failures = rows(
        sync_conn,
        sq("SELECT job_id, final, error, traceback FROM {failures} ORDER BY job_id", names),
    )
    assert failures == [
        (jobs[3].id, True, "ValueError: bad", "Traceback ..."),
        (jobs[4].id, False, "Timeout", "tb"),
    ]
    stats = rows(
        sync_conn,
        sq(
            "SELECT status::text, priority, count, round(queue_seconds_sum),"
            " round(queue_seconds_max), run_seconds_sum, run_seconds_max"
            " FROM {statistics} ORDER BY status",
            names,
        ),
    )
    assert stats == [
        ("exception", 2, 1, 10, 10, 0.25, 0.25),
        ("successful", 2, 3, 30, 10, 4.0, 2.0),
    ]


async def test_eight_concurrent_completers_on_the_same_statistics_keys_never_deadlock(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any]
) -> None:
    completers, rounds, batch = 8, 12, 24
    entrypoints = ["e1", "e2", "e3"]
    connections = [
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(completers)
    ]
    try:
        workers = [(WorkerQueries(conn, names), uuid.uuid4()) for conn in connections]
        total = completers * rounds * batch
        await Queries(connections[0], names).enqueue_bulk(
            NewJob(entrypoints[i % 3], None, i % 2) for i in range(total)
        )
        deadlocks_before = database_deadlocks(sync_conn)
        statuses = [Status.SUCCESSFUL, Status.EXCEPTION, Status.CANCELED]
        rng = random.Random(7)

        async def one_round(worker_queries: WorkerQueries, worker: uuid.UUID) -> int:
            jobs = await worker_queries.dequeue(dict.fromkeys(entrypoints, ROOM), batch, worker, 0)
            outcomes = [Outcome(j.id, rng.choice(statuses), 0.01) for j in jobs]
            rng.shuffle(outcomes)  # every completer touches the keys in its own order
            return (await worker_queries.complete(outcomes, worker)).finished

        finished = 0
        # SKIP LOCKED hands a completer fewer jobs when the others hold rows: go on until empty.
        for _ in range(rounds * 3):
            done = await asyncio.gather(*(one_round(q, w) for q, w in workers))
            finished += sum(done)
            if finished == total:
                break
    finally:
        for conn in connections:
            await conn.close()

    assert finished == total
    counted = rows(sync_conn, sq("SELECT sum(count)::bigint FROM {statistics}", names))
    assert counted == [(total,)]
    assert job_rows(sync_conn, names) == []
    assert database_deadlocks(sync_conn) == deadlocks_before


def database_deadlocks(conn: psycopg.Connection[Any]) -> int:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    assert row is not None
    return int(row[0])


# --- purge and reading --------------------------------------------------------------------------


async def test_purge_deletes_only_what_matches_and_counts_it(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    await queries.enqueue(["x"] * 4 + ["y"] * 3)
    await worker_queries.dequeue({"x": 1}, 10, uuid.uuid4(), 0)

    assert await queries.count_matching(["x"]) == 3
    assert await queries.purge(["x"]) == 3
    assert await queries.purge(None, ["picked"]) == 1
    assert [r[1] for r in job_rows(sync_conn, names)] == ["y"] * 3
    deleted = rows(
        sync_conn,
        sq("SELECT sum(count)::bigint FROM {statistics} WHERE status = 'deleted'", names),
    )
    assert deleted == [(4,)]
    with pytest.raises(UsageError, match="cannot purge status"):
        await queries.purge(None, ["successful"])


async def test_queue_counts_report_each_status_and_the_oldest_age(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    await queries.enqueue(["a"] * 3 + ["b"])
    sync_conn.execute(
        sq(
            "UPDATE {jobs} SET created = now() - interval '90 seconds' WHERE entrypoint = 'a'",
            names,
        )
    )
    await worker_queries.dequeue({"a": 1}, 10, uuid.uuid4(), 0)
    counts = {
        (c.entrypoint, c.status): (c.count, round(c.oldest_seconds))
        for c in await queries.queue_counts()
    }
    assert counts[("a", "queued")] == (2, 90)
    assert counts[("a", "picked")][0] == 1
    assert counts[("b", "queued")][0] == 1


async def test_queue_depths_tell_due_from_scheduled_and_age_from_the_due_time(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    await queries.enqueue(["a"] * 3 + ["b"])
    await queries.enqueue(["a", "a"], execute_after=[600, 1200])
    # A retry created long ago that came due 30 s ago has waited 30 s, not 90.
    sync_conn.execute(
        sq(
            "UPDATE {jobs} SET created = now() - interval '90 seconds',"
            " execute_after = now() - interval '30 seconds'"
            " WHERE entrypoint = 'a' AND execute_after <= now()",
            names,
        )
    )
    await worker_queries.dequeue({"a": 1}, 10, uuid.uuid4(), 0)
    depths = {d.entrypoint: d for d in await queries.queue_depths()}
    a, b = depths["a"], depths["b"]
    assert (a.due, a.scheduled, a.picked) == (2, 2, 1)
    assert a.oldest_due_seconds == pytest.approx(30, abs=2)
    assert a.next_due_seconds == pytest.approx(600, abs=2)
    assert (b.due, b.scheduled, b.picked, b.next_due_seconds) == (1, 0, 0, None)
