"""Burst mode: drain exactly what is due, then exit with a code that says how it went."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqtop.cli import main
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.burst import BURST_FAILED, BURST_OK, BURST_PAUSED
from pgqtop.engine.manager import QueueManager
from tests.engine.burst_factory import register

FACTORY = "tests.engine.burst_factory:register"


def burst(settings: Settings, *extra: str) -> int:
    """`pgqtop --headless --burst` in this process, against the test's prefix."""
    return main(
        [
            *("--dsn", settings.dsn, "--prefix", settings.names.prefix),
            *("--headless", "--factory", FACTORY, "--burst", "--dequeue-timeout", "1"),
            *extra,
        ]
    )


def enqueue(settings: Settings, entrypoint: str, count: int = 1, **options: Any) -> list[int]:
    async def go() -> list[int]:
        async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
            queries = ConsoleQueries(conn, settings.names)
            return await queries.enqueue([entrypoint] * count, **options)

    return asyncio.run(go())


def left(conn: psycopg.Connection[Any], settings: Settings) -> list[tuple[str, str, int]]:
    """(entrypoint, status, attempts) of every job still in the jobs table, by id."""
    query = sql.SQL("SELECT entrypoint, status::text, attempts FROM {} ORDER BY id").format(
        sql.Identifier(settings.names.jobs)
    )
    return [(r[0], r[1], r[2]) for r in conn.execute(query).fetchall()]


def finished(conn: psycopg.Connection[Any], settings: Settings) -> dict[str, list[str]]:
    """Statuses of the jobs that ended, per entrypoint."""
    query = sql.SQL("SELECT entrypoint, status::text FROM {} ORDER BY job_id").format(
        sql.Identifier(settings.names.finished)
    )
    ended: dict[str, list[str]] = {}
    for entrypoint, status in conn.execute(query).fetchall():
        ended.setdefault(entrypoint, []).append(status)
    return ended


def test_burst_drains_what_is_due_and_what_handlers_enqueue_then_exits_0(
    settings: Settings, sync_conn: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    enqueue(settings, "ok", 3)
    enqueue(settings, "ok", 1, execute_after=300.0)  # scheduled for later: left alone
    enqueue(settings, "spawn", 2)
    enqueue(settings, "flaky", 1)  # its retry is due at once: taken in the same burst

    assert burst(settings) == BURST_OK

    assert finished(sync_conn, settings) == {
        "ok": ["successful"] * 5,  # three given, two enqueued by the spawn handlers
        "spawn": ["successful"] * 2,
        "flaky": ["successful"],
    }
    assert left(sync_conn, settings) == [("ok", "queued", 0)] * 3
    # Nine attempts: flaky ran twice.
    assert "burst done: 9 taken, 8 succeeded, 0 failed, 1 retried" in capsys.readouterr().err


def test_a_final_failure_exits_1_unless_failures_are_told_not_to_count(
    settings: Settings, sync_conn: psycopg.Connection[Any]
) -> None:
    enqueue(settings, "boom")
    enqueue(settings, "ok", 2)
    assert burst(settings) == BURST_FAILED
    assert finished(sync_conn, settings) == {"boom": ["exception"], "ok": ["successful"] * 2}

    enqueue(settings, "boom")
    assert burst(settings, "--no-burst-fail-exit") == BURST_OK
    assert left(sync_conn, settings) == []


def test_a_retry_due_after_the_burst_is_left_waiting_and_is_no_failure(
    settings: Settings, sync_conn: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    enqueue(settings, "later")
    assert burst(settings) == BURST_OK
    assert left(sync_conn, settings) == [("later", "queued", 1)]
    assert "1 retried; 1 retries due later left waiting" in capsys.readouterr().err


def test_due_jobs_of_a_paused_entrypoint_are_left_and_exit_5_names_them(
    settings: Settings, sync_conn: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    async def pause() -> None:
        async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
            await ConsoleQueries(conn, settings.names).pause(["ok"], by="test", reason="hold")

    asyncio.run(pause())
    enqueue(settings, "ok", 2)
    enqueue(settings, "flaky", 1)

    assert burst(settings) == BURST_PAUSED

    assert finished(sync_conn, settings) == {"flaky": ["successful"]}
    assert left(sync_conn, settings) == [("ok", "queued", 0)] * 2
    assert "2 due jobs left because their entrypoints are paused: ok (2)" in capsys.readouterr().err
    # A failure outranks the pause: the code says a job failed.
    enqueue(settings, "boom")
    assert burst(settings) == BURST_FAILED


def test_burst_needs_headless(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--dsn", settings.dsn, "--factory", FACTORY, "--burst"])
    assert code == 2
    assert "--burst needs --headless" in capsys.readouterr().err


async def test_run_burst_reports_each_outcome_and_asks_before_it_stops(
    settings: Settings, queries: ConsoleQueries
) -> None:
    manager = QueueManager(settings)
    register(manager)
    (flaky,) = await queries.enqueue("flaky")
    (boom,) = await queries.enqueue("boom")
    seen: list[tuple[int, str, bool]] = []
    manager.add_outcome_listener(
        lambda job, outcome: seen.append((job.id, outcome.status.value, outcome.retry_in is None))
    )
    asked: list[int] = []

    async def on_empty() -> bool:
        # The first time it finds nothing due, put one more job in: it looks again.
        asked.append(len(asked))
        if len(asked) == 1:
            await queries.enqueue("ok")
            return True
        return False

    result = await manager.run_burst(on_empty=on_empty)

    assert (result.taken, result.succeeded, result.failed, result.retried) == (4, 2, 1, 1)
    assert result.exit_code() == BURST_FAILED and result.exit_code(fail_on_failure=False) == 0
    assert asked == [0, 1]
    assert (flaky, "exception", False) in seen and (flaky, "successful", True) in seen
    assert (boom, "exception", True) in seen
    assert manager.state == "stopped"
