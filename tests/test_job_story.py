"""`pgqtop job ID` and operations.job_story against the real database: the story of a job that
succeeded, failed and was retried, was canceled, waits for a later time or runs right now; the
finished jobs' retention by age and count; and what an unknown id gets."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import psycopg
import pytest

from pgqtop import operations
from pgqtop.config import ObjectNames, Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import WorkerIdentity
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine import retention
from pgqtop.model import Outcome, Status
from pgqtop.operations import JobState
from tests.test_cli_admin import cli, target
from tests.test_schema import sq
from tests.waiting import eventually


def identity(host: str = "host-a", pid: int = 4242) -> WorkerIdentity:
    return WorkerIdentity(uuid.uuid4(), host, pid, "1.0", ["story"], 10)


async def take(worker_queries: WorkerQueries, me: WorkerIdentity, job_id: int) -> None:
    """Register `me` and take the job (the only one due)."""
    await worker_queries.heartbeat(me, [], in_flight=0, processed=0, failed=0)
    [job] = await worker_queries.dequeue({"story": 10}, 10, me.id, 0)
    assert job.id == job_id


def finished_rows(conn: psycopg.Connection[Any], names: ObjectNames) -> list[int]:
    found = conn.execute(sq("SELECT job_id FROM {finished} ORDER BY job_id", names)).fetchall()
    return [int(r[0]) for r in found]


async def test_a_succeeded_job_tells_when_it_waited_ran_and_where(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    (job_id,) = await queries.enqueue("story")
    me = identity()
    await take(worker_queries, me, job_id)
    await worker_queries.complete([Outcome(job_id, Status.SUCCESSFUL, 0.25)], me.id)
    await worker_queries.deregister(me.id)  # the worker leaves; its jobs' story keeps it

    story = await operations.job_story(queries, job_id)

    assert story is not None and story.status == JobState.SUCCEEDED
    assert (story.entrypoint, story.attempts, story.ran_seconds) == ("story", 1, 0.25)
    assert story.waited_seconds is not None and story.waited_seconds >= 0
    assert story.created and story.due and story.picked and story.finished
    assert story.created <= story.picked <= story.finished
    assert story.worker is not None and story.worker.id == me.id
    assert (story.worker.host, story.worker.pid, story.worker.registered) == ("host-a", 4242, False)
    assert story.failures == [] and story.job is None


async def test_a_job_that_failed_was_retried_and_succeeded_shows_each_attempt(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    (job_id,) = await queries.enqueue("story")
    first, second = identity("host-a", 1), identity("host-b", 2)
    await take(worker_queries, first, job_id)
    await worker_queries.complete(
        [Outcome(job_id, Status.EXCEPTION, 0.1, "ValueError: no", "Traceback: line 1", 0.0)],
        first.id,
    )
    retried = await operations.job_story(queries, job_id)
    assert retried is not None and retried.status == JobState.QUEUED
    assert [(a.attempt, a.final) for a in retried.failures] == [(1, False)]

    await take(worker_queries, second, job_id)
    await worker_queries.complete([Outcome(job_id, Status.SUCCESSFUL, 0.5)], second.id)
    story = await operations.job_story(queries, job_id)

    assert story is not None and story.status == JobState.SUCCEEDED and story.attempts == 2
    [attempt] = story.failures
    assert (attempt.attempt, attempt.error, attempt.traceback) == (
        1,
        "ValueError: no",
        "Traceback: line 1",
    )
    assert attempt.worker is not None and attempt.worker.host == "host-a"
    assert story.worker is not None and story.worker.host == "host-b"


async def test_a_canceled_job_ends_canceled(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    (job_id,) = await queries.enqueue("story")
    me = identity()
    await take(worker_queries, me, job_id)
    await worker_queries.complete(
        [Outcome(job_id, Status.CANCELED, 3.0, "canceled by an operator", "")], me.id
    )

    story = await operations.job_story(queries, job_id)

    assert story is not None and story.status == JobState.CANCELED
    assert [(a.status, a.final) for a in story.failures] == [("canceled", True)]


async def test_a_delayed_job_is_scheduled_then_queued_then_picked(
    queries: ConsoleQueries, worker_queries: WorkerQueries, sync_conn: psycopg.Connection[Any]
) -> None:
    names = queries.names
    (job_id,) = await queries.enqueue("story", b"hello", execute_after=3600)
    story = await operations.job_story(queries, job_id)
    assert story is not None and story.status == JobState.SCHEDULED
    assert story.due is not None and story.created is not None
    assert 3590 < (story.due - story.created).total_seconds() <= 3600
    assert story.job is not None and story.job.payload == b"hello"

    sync_conn.execute(
        sq(
            "UPDATE {jobs} SET created = now() - interval '1 minute',"
            " execute_after = now() - interval '5 s'",
            names,
        )
    )
    story = await operations.job_story(queries, job_id)
    assert story is not None and story.status == JobState.QUEUED
    assert story.waited_seconds is not None and 5 <= story.waited_seconds < 60

    me = identity("host-c", 77)
    await take(worker_queries, me, job_id)
    story = await operations.job_story(queries, job_id)
    assert story is not None and story.status == JobState.PICKED
    assert story.worker is not None and (story.worker.host, story.worker.pid) == ("host-c", 77)
    assert story.worker.registered and story.ran_seconds is not None and story.ran_seconds >= 0


async def test_the_command_tells_the_story_as_text_and_json(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
) -> None:
    (job_id,) = await queries.enqueue("story")
    me = identity()
    await take(worker_queries, me, job_id)
    await worker_queries.complete(
        [Outcome(job_id, Status.EXCEPTION, 0.1, "KeyError: 'x'", "Traceback\n  line 9", 0.0)],
        me.id,
    )
    await take(worker_queries, me, job_id)
    await worker_queries.complete([Outcome(job_id, Status.SUCCESSFUL, 0.02)], me.id)
    where = target(dsn, names)

    code, out, _ = await asyncio.to_thread(cli, capsys, "job", str(job_id), "--json", *where)
    assert code == 0
    record = json.loads(out)
    assert (record["job_id"], record["status"], record["attempts"]) == (job_id, "succeeded", 2)
    assert record["worker"]["short_id"] == me.id.hex[:8] and record["worker"]["pid"] == 4242
    assert record["failures"][0]["traceback"] == "Traceback\n  line 9"

    code, out, _ = await asyncio.to_thread(cli, capsys, "job", str(job_id), *where)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"job {job_id} (story, priority 0): succeeded"
    assert any(
        line.split()[:3] == ["attempt", "1", "failed"] and "KeyError" in line for line in lines
    )
    assert any(line.strip() == "line 9" for line in lines)
    # The due time kept is the retry's, so it follows the failed attempt.
    labels = [line.split()[0] for line in lines[1:] if line.startswith("  ") and line[2] != " "]
    assert labels[:4] == ["created", "attempt", "retry", "picked"]
    assert any(line.split()[0] == "succeeded" and "after running 20ms" in line for line in lines)


def test_an_unknown_job_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    code, out, err = cli(capsys, "job", "987654", *target(dsn, names))
    assert (code, out) == (1, "")
    assert err == "pgqtop: error: no job 987654 (finished jobs are kept for 1h)\n"

    code, _, err = cli(capsys, "job", "twelve", *target(dsn, names))
    assert code == 2 and err.count("\n") == 1 and "positive whole number" in err


async def test_a_worker_that_keeps_no_finished_jobs_writes_none(
    queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any], sync_conn: psycopg.Connection[Any]
) -> None:
    names = queries.names
    forgetful = WorkerQueries(aconn, names, keep_finished=False)
    (job_id,) = await queries.enqueue("story")
    me = identity()
    await take(forgetful, me, job_id)
    await forgetful.complete([Outcome(job_id, Status.SUCCESSFUL, 0.1)], me.id)

    assert finished_rows(sync_conn, names) == []
    assert await operations.job_story(queries, job_id) is None


async def finish_many(
    queries: ConsoleQueries, worker_queries: WorkerQueries, count: int
) -> list[int]:
    ids = await queries.enqueue(["story"] * count)
    me = identity()
    await worker_queries.heartbeat(me, [], in_flight=0, processed=0, failed=0)
    jobs = await worker_queries.dequeue({"story": count}, count, me.id, 0)
    await worker_queries.complete([Outcome(j.id, Status.SUCCESSFUL, 0.1) for j in jobs], me.id)
    return ids


async def test_finished_jobs_are_pruned_by_age_and_by_count(
    queries: ConsoleQueries, worker_queries: WorkerQueries, sync_conn: psycopg.Connection[Any]
) -> None:
    names = queries.names
    ids = await finish_many(queries, worker_queries, 10)
    sync_conn.execute(
        sq("UPDATE {finished} SET finished = now() - interval '2 hours' WHERE job_id <= %s", names),
        (ids[2],),
    )

    assert await worker_queries.prune_finished(3600, 1000) == 3
    assert finished_rows(sync_conn, names) == ids[3:]
    assert await worker_queries.prune_finished(3600, 4) == 3
    assert finished_rows(sync_conn, names) == ids[6:]
    assert await worker_queries.prune_finished(3600, 4) == 0
    # The count is of ids issued: two jobs still waiting push two finished ones out.
    await queries.enqueue(["story"] * 2)
    assert await worker_queries.prune_finished(3600, 4) == 2
    assert finished_rows(sync_conn, names) == ids[8:]
    assert await worker_queries.prune_finished(3600, 0, chunk=1) == 1  # at most a chunk
    assert finished_rows(sync_conn, names) == ids[9:]


async def test_a_workers_finished_prune_follows_its_settings_in_chunks(
    settings: Settings,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = queries.names
    ids = await finish_many(queries, worker_queries, 7)
    monkeypatch.setattr(retention, "CHUNK_ROWS", 2)  # three chunks, the last one short
    settings.keep_finished_seconds, settings.keep_finished_rows = 0, 2
    pruner = retention.FinishedPruner(settings)
    assert not pruner.due(processed=10**9, now=10**9)  # keeping none: the table is left alone

    settings.keep_finished_seconds = 3600
    assert pruner.due(processed=10**9)
    assert pruner.start_if_due(processed=10**9)
    assert not pruner.due(processed=2 * 10**9), "one prune at a time"
    await eventually(lambda: pruner.pruned == 5, 10, "the prune to finish")

    assert finished_rows(sync_conn, names) == ids[5:]
