"""The audit trail against a real database: every operator action is recorded with who, what,
how many and why, announced once on the channel, and committed with the action or not at all.
(What each role may do to the trail: tests/test_security.py.)"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from pgqtop import operations
from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.errors import UsageError
from pgqtop.model import ALL_ENTRYPOINTS, DuplicateJob, NewJob, parse_event
from pgqtop.model.audit import AuditEntry
from tests.test_cli_admin import cli, target
from tests.test_operations import fail_one
from tests.test_schema import sq

ME = operations.operator_identity()


@pytest.fixture
async def announced(
    dsn: str, names: ObjectNames
) -> AsyncIterator[Callable[[], Awaitable[list[AuditEntry]]]]:
    """The audit entries announced on the channel since the test began."""
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await conn.execute(sq("LISTEN {channel}", names))

    async def read() -> list[AuditEntry]:
        events = [parse_event(n.payload) async for n in conn.notifies(timeout=0.3)]
        return [e.audit for e in events if e.audit is not None]

    yield read
    await conn.close()


def trail(entries: list[AuditEntry]) -> list[tuple[str, str, int, str]]:
    """(action, target, count, reason), oldest first."""
    return [(e.action, e.target, e.count, e.reason) for e in sorted(entries, key=lambda e: e.id)]


async def test_every_operator_action_is_recorded_and_announced_once(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    announced: Callable[[], Awaitable[list[AuditEntry]]],
    sync_conn: psycopg.Connection[Any],
) -> None:
    role = sync_conn.execute("SELECT current_user").fetchone()
    await operations.enqueue(queries, [NewJob("news"), NewJob("news"), NewJob("sms")], reason="e")
    await operations.pause(queries, "mail", seconds=60, reason="smtp down")
    await operations.pause(queries, ALL_ENTRYPOINTS)
    await operations.resume(queries, "mail", reason="smtp back")
    await operations.resume_all(queries)
    plan = await operations.plan_purge(queries, ["sms"])
    await operations.execute_purge(queries, plan, reason="spam")
    failure = await fail_one(queries, worker_queries, "mail")
    await fail_one(queries, worker_queries, "mail")
    await operations.requeue_failure(queries, failure, reason="once")
    await operations.execute_requeue(queries, await operations.plan_requeue(queries, "mail"))
    # A cancel reaches running jobs: two are running, one id is given twice.
    first, second = await queries.enqueue(["stuck", "stuck"])
    await worker_queries.dequeue({"stuck": 2}, 2, uuid.uuid4(), 30.0)
    await operations.cancel_jobs(queries, [first, second, first], reason="stuck")
    await operations.record_scale(queries, "1a2b3c4d@host", 200, 220)

    # fail_one enqueues through the queries, as an application does: not an operator action.
    expected = [
        ("enqueue", "news, sms", 3, "e"),
        ("pause", "mail", 1, "smtp down"),
        ("pause", ALL_ENTRYPOINTS, 1, ""),
        ("resume", "mail", 1, "smtp back"),
        ("resume", ALL_ENTRYPOINTS, 1, ""),
        ("purge", "sms", 1, "spam"),
        ("requeue", f"failure {failure}", 1, "once"),
        ("requeue", "failures of mail", 1, ""),
        ("cancel", f"jobs {first}, {second}", 2, "stuck"),
        ("scale", "worker 1a2b3c4d@host: concurrency 200 -> 220", 220, ""),
    ]
    recorded = await operations.audit_log(queries, 3600)
    assert trail(recorded) == expected
    assert {(e.actor, e.role) for e in recorded} == {(ME, role[0] if role else None)}
    # One announcement per action, carrying what the database recorded.
    assert sorted(await announced(), key=lambda e: e.id) == sorted(recorded, key=lambda e: e.id)


async def test_a_long_purge_requeue_or_enqueue_reports_progress_and_is_one_entry(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(operations, "ENQUEUE_CHUNK", 4)
    monkeypatch.setattr(operations, "PURGE_CHUNK", 3)
    monkeypatch.setattr(operations, "REQUEUE_CHUNK", 2)
    seen: list[int] = []

    ids = await operations.enqueue(queries, [NewJob("bulk")] * 10, progress=seen.append)
    assert len(set(ids)) == 10 and seen == [4, 8, 10]
    await worker_queries.dequeue({"bulk": 1}, 1, uuid.uuid4(), 30.0)  # one is running

    seen.clear()
    plan = await operations.plan_purge(queries, ["bulk"])
    assert await operations.execute_purge(queries, plan, progress=seen.append) == 9 == plan.count
    assert seen == [3, 6, 9] and await queries.count_matching(["bulk"], ["picked"]) == 1

    for _ in range(5):
        await fail_one(queries, worker_queries, "mail")
    seen.clear()
    plan_requeue = await operations.plan_requeue(queries, "mail")
    assert await operations.execute_requeue(queries, plan_requeue, progress=seen.append) == 5
    assert seen == [2, 4, 5] and await queries.count_matching(["mail"]) == 5

    assert trail(await operations.audit_log(queries, 3600)) == [
        ("enqueue", "bulk", 10, ""),
        ("purge", "bulk", 9, ""),
        ("requeue", "failures of mail", 5, ""),
    ]


async def test_a_long_operation_that_fails_halfway_leaves_nothing_behind(
    queries: ConsoleQueries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations, "ENQUEUE_CHUNK", 4)
    await queries.enqueue("bulk", dedupe_key="taken")
    jobs = [NewJob("bulk")] * 9 + [NewJob("bulk", dedupe_key="taken")]  # the third chunk fails

    with pytest.raises(DuplicateJob):
        await operations.enqueue(queries, jobs, progress=lambda done: None)

    assert await queries.count_matching(["bulk"]) == 1
    assert await operations.audit_log(queries, 3600) == []


async def test_an_action_the_database_refuses_records_nothing(
    queries: ConsoleQueries,
) -> None:
    with pytest.raises(DuplicateJob):
        await operations.enqueue(
            queries, [NewJob("a", dedupe_key="k"), NewJob("a", dedupe_key="k")]
        )
    await operations.enqueue(queries, [NewJob("a", dedupe_key="k")])
    with pytest.raises(DuplicateJob):
        await operations.enqueue(queries, [NewJob("a", dedupe_key="k")])
    assert trail(await operations.audit_log(queries, 3600)) == [("enqueue", "a", 1, "")]


@pytest.mark.parametrize("reason", ["two\nlines", "x" * 501])
async def test_a_reason_is_one_line_of_reasonable_length(
    queries: ConsoleQueries, reason: str
) -> None:
    with pytest.raises(UsageError, match="reason"):
        await operations.pause(queries, "a", reason=reason)
    assert await queries.paused() == []


async def test_audit_command_lists_entries_as_a_table_and_as_json(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames, queries: ConsoleQueries
) -> None:
    await operations.pause(queries, "mail", reason="smtp down")
    code, out, _ = await asyncio.to_thread(cli, capsys, "audit", "--json", *target(dsn, names))
    (entry,) = json.loads(out)
    assert code == 0 and set(entry) == {
        "id", "at", "action", "actor", "role", "target", "count", "reason",
    }  # fmt: skip
    assert (entry["action"], entry["actor"], entry["target"], entry["count"]) == (
        "pause",
        ME,
        "mail",
        1,
    )
    code, out, _ = await asyncio.to_thread(cli, capsys, "audit", *target(dsn, names))
    header, line = out.splitlines()
    assert header.split() == ["AT", "ACTION", "ACTOR", "ROLE", "TARGET", "COUNT", "REASON"]
    assert line.split()[2:4] == ["pause", ME] and line.endswith("smtp down")
    code, out, _ = await asyncio.to_thread(
        cli, capsys, "audit", "--since", "1s", *target(dsn, names)
    )
    assert code == 0
