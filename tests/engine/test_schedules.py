"""Scheduled entrypoints: each run is enqueued once however many workers race for it, and the
runs reach the handler as ordinary jobs. (Parsing timetables: tests/unit/test_schedule.py.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqtop import Job, QueueManager
from pgqtop.config import ObjectNames, Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.link import ReconnectingConnection
from pgqtop.engine.schedule import Scheduler, parse_schedule
from pgqtop.model import Outcome, Status
from tests.test_cli_admin import cli, target
from tests.test_schema import sq
from tests.waiting import eventually

UTC = dt.UTC


def at(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 1, hour, minute, second, tzinfo=UTC)


async def test_racing_workers_enqueue_a_due_run_exactly_once(
    dsn: str,
    names: ObjectNames,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
) -> None:
    await worker_queries.register_schedules({"report": "@every 60s"}, {"report": at(12, 0)})
    sync_conn.execute(sq("UPDATE {schedules} SET next_run = now() - interval '1 second'", names))
    [row] = await queries.schedules(["report"])
    following = row.read_at + dt.timedelta(seconds=60)

    async def claim() -> list[tuple[str, int]]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await WorkerQueries(conn, names).claim_schedules(
                [("report", row.next_run, following)]
            )

    won = [w for result in await asyncio.gather(*(claim() for _ in range(8))) for w in result]

    assert len(won) == 1
    jobs = sync_conn.execute(sq("SELECT id, entrypoint, headers FROM {jobs}", names)).fetchall()
    assert [(j[0], j[1]) for j in jobs] == [(won[0][1], "report")]
    assert jobs[0][2]["schedule"] == "@every 60s"
    dedupe = sync_conn.execute(sq("SELECT dedupe_key FROM {jobs}", names)).fetchone()
    assert dedupe == ("schedule:report",)
    assert dt.datetime.fromisoformat(jobs[0][2]["scheduled_for"]) == row.next_run
    [after] = await queries.schedules(["report"])
    assert after.next_run == following and after.last_run is not None


async def test_runs_do_not_pile_up_while_the_last_one_waits_or_runs(
    names: ObjectNames,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
) -> None:
    """Paused for an hour on a one-minute timetable is one waiting run, not sixty."""
    await worker_queries.register_schedules({"report": "@every 60s"}, {"report": at(12, 0)})

    async def claim_due() -> list[tuple[str, int | None]]:
        sync_conn.execute(sq("UPDATE {schedules} SET next_run = now() - interval '1s'", names))
        [row] = await queries.schedules(["report"])
        following = row.read_at + dt.timedelta(seconds=60)
        return await worker_queries.claim_schedules([("report", row.next_run, following)])

    [(_, first)] = await claim_due()
    assert first is not None
    assert await claim_due() == [("report", None)]  # still queued: skipped
    worker = uuid.uuid4()
    [job] = await worker_queries.dequeue({"report": 10}, 10, worker, 0)
    assert await claim_due() == [("report", None)]  # running: skipped
    await worker_queries.complete([Outcome(job.id, Status.SUCCESSFUL, 0.1)], worker)
    [(_, second)] = await claim_due()
    assert second is not None and second != first
    [after] = await queries.schedules(["report"])
    assert after.due_in_seconds > 50  # every claim moved the timetable on


async def test_a_changed_timetable_restarts_and_an_unchanged_one_keeps_its_next_run(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
) -> None:
    await worker_queries.register_schedules({"report": "0 3 * * *"}, {"report": at(3, 0)})
    await worker_queries.register_schedules({"report": "0 3 * * *"}, {"report": at(4, 0)})
    [kept] = await queries.schedules()
    assert (kept.expression, kept.next_run) == ("0 3 * * *", at(3, 0))

    await worker_queries.register_schedules({"report": "@every 60s"}, {"report": at(5, 0)})
    [changed] = await queries.schedules()
    assert (changed.expression, changed.next_run) == ("@every 60s", at(5, 0))


async def test_two_workers_run_an_interval_schedule_once_per_run(
    fast: Settings, queries: ConsoleQueries, running: Callable[[QueueManager], None]
) -> None:
    seen: list[tuple[str, str]] = []  # (scheduled_for, the manager that ran it)
    events: list[str] = []
    for label in ("a", "b"):
        manager = QueueManager(fast, worker_name=label)

        @manager.entrypoint("tick", schedule="@every 1s")
        async def tick(job: Job, label: str = label) -> None:
            seen.append((str((job.headers or {})["scheduled_for"]), label))

        manager.add_listener(lambda event: events.append(event.message))
        running(manager)

    async def four_runs() -> bool:
        return len(seen) >= 4

    await eventually(four_runs, 15, "four scheduled runs")
    runs = [scheduled_for for scheduled_for, _ in seen]
    assert len(runs) == len(set(runs)), f"a run was enqueued twice: {sorted(runs)}"
    moments = sorted(dt.datetime.fromisoformat(r) for r in runs)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(moments)]
    assert all(0.99 <= gap <= 3.0 for gap in gaps), gaps  # late claims stretch a gap
    assert sum("scheduled run of tick enqueued" in e for e in events) >= 4


def test_schedules_command_lists_timetables_and_their_next_runs(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    code, out, _ = cli(capsys, "schedules", *target(dsn, names))
    assert code == 0 and out.startswith("no schedules in ")

    sync_conn.execute(
        sq(
            "INSERT INTO {schedules} (entrypoint, expression, next_run)"
            " VALUES ('nightly', '0 3 * * *', now() + interval '10 minutes')",
            names,
        )
    )
    code, out, _ = cli(capsys, "schedules", *target(dsn, names))
    assert code == 0
    assert "nightly" in out and "0 3 * * *" in out and "never" in out and "in 9m" in out

    code, out, _ = cli(capsys, "schedules", "--json", *target(dsn, names))
    [listed] = json.loads(out)["schedules"]
    assert (listed["entrypoint"], listed["expression"], listed["last_run"]) == (
        "nightly",
        "0 3 * * *",
        None,
    )


async def test_a_refused_schedule_statement_leaves_the_shared_connection_alone(
    fast: Settings,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The scheduler shares its connection with completions: a statement the database
    refuses (a grant from before schedules, say) is logged, not treated as a lost link."""
    refuse = sql.Identifier(f"{names.prefix}_refuse")
    sync_conn.execute(
        sql.SQL(
            "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'schedules are off limits'; END $$"
        ).format(refuse)
    )
    sync_conn.execute(
        sql.SQL("CREATE TRIGGER refuse BEFORE INSERT ON {} EXECUTE FUNCTION {}()").format(
            sql.Identifier(names.schedules), refuse
        )
    )
    link = ReconnectingConnection(fast, "schedules test", WorkerQueries)
    before = (await link.queries()).conn
    scheduler = Scheduler(link, {"report": parse_schedule(60)}, max_sleep=0.1)
    halt = asyncio.Event()
    task = asyncio.create_task(scheduler.run(halt))
    try:

        async def refused_twice() -> bool:
            return caplog.text.count("schedules are off limits") >= 2

        await eventually(refused_twice, 10, "two refusals logged")
    finally:
        halt.set()
        await task
    assert (await link.queries()).conn is before and not before.closed
    await link.close()
    sync_conn.execute(sql.SQL("DROP FUNCTION {}() CASCADE").format(refuse))
