"""Workers survive what production does to them: kills, dropped connections, shutdowns."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from tests.engine import jobs_factory
from tests.engine.conftest import headless, scalar
from tests.waiting import eventually

FACTORY = ("--factory", "tests.engine.jobs_factory:register")


async def test_jobs_of_a_sigkilled_worker_are_retaken_after_the_retry_timer(
    fast: Settings,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    done: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "workers.log"
    ids = await queries.enqueue(["alpha", "delta"] * 3, "sleep:60")
    doomed = headless(fast, log, *FACTORY)
    jobs = queries.names.jobs

    async def all_picked() -> bool:
        query = "SELECT count(*) FROM {t} WHERE status = 'picked'"
        return int(await scalar(aconn, query, jobs)) == len(ids)

    try:
        await eventually(all_picked, 20, "the first worker to take every job")
    finally:
        doomed.send_signal(signal.SIGKILL)
        await asyncio.to_thread(doomed.wait, 10)
    rescuer = headless(fast, log, *FACTORY, "--retry-timer", "1")
    try:

        async def all_done() -> bool:
            return int(await scalar(aconn, "SELECT count(*) FROM {t}", done)) == len(ids)

        await eventually(all_done, 20, "the second worker to finish them")
    finally:
        rescuer.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(rescuer.wait, 20) == 0, log.read_text()
    assert await scalar(aconn, "SELECT min(attempts) FROM {t}", done) == 2
    assert await scalar(aconn, "SELECT count(*) FROM {t}", jobs) == 0


async def backend_pids(aconn: psycopg.AsyncConnection[Any], application_name: str) -> list[int]:
    cur = await aconn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
    )
    return [int(r[0]) for r in await cur.fetchall()]


@pytest.mark.parametrize("purpose", ["listen", "worker", "complete"])
async def test_worker_keeps_working_after_its_connection_is_terminated(
    purpose: str,
    fast: Settings,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    # A long poll interval: only a working NOTIFY path explains jobs running within a second.
    fast.engine.dequeue_timeout = 30.0
    ran: list[int] = []
    manager = QueueManager(fast)

    @manager.entrypoint("echo")
    async def echo(job: Job) -> None:
        ran.append(job.id)

    states: list[str] = []
    manager.add_listener(lambda event: states.append(event.state))
    task = asyncio.create_task(manager.run())
    try:
        await queries.enqueue("echo")

        async def ran_count(n: int) -> bool:
            return len(ran) >= n

        await eventually(lambda: ran_count(1), 5, "the first job")
        name = f"pgqtop {purpose} {str(manager.worker_id)[:8]}"
        (pid,) = await backend_pids(aconn, name)
        await aconn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        if purpose == "listen":

            async def listening_again() -> bool:
                pids = await backend_pids(aconn, name)
                return bool(pids) and pids != [pid]

            await eventually(listening_again, 10, "the listener to reconnect")
        for attempt in range(2, 5):
            await queries.enqueue("echo")
            took = await eventually(lambda n=attempt: ran_count(n), 10, f"job {attempt}")
            if purpose == "listen":
                # The poll timer started before the kill and fires 30 s later, at least 20 s
                # after this enqueue: only the reconnected listener explains a prompt start.
                assert took < 5.0

        async def all_written() -> bool:
            stats = queries.names.statistics
            return int(await scalar(aconn, "SELECT coalesce(sum(count), 0) FROM {t}", stats)) == 4

        await eventually(all_written, 10, "all outcomes written")
        assert manager.state == "running"
    finally:
        await manager.stop()
        await task
    if purpose != "complete":  # a completion flush may well succeed before noticing the loss
        assert "reconnecting" in states


async def test_sigterm_under_load_exits_zero_within_grace_and_loses_nothing(
    fast: Settings,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    done: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    count = 3000
    ids = await queries.enqueue(["alpha", "delta"] * (count // 2), "sleep:0.2")
    worker = headless(fast, log, *FACTORY, "--shutdown-grace", "5", "--concurrency", "50")

    async def some_done() -> bool:
        return int(await scalar(aconn, "SELECT count(*) FROM {t}", done)) >= 100

    await eventually(some_done, 30, "the worker to get going")
    worker.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert await asyncio.to_thread(worker.wait, 10) == 0, log.read_text()
    assert time.monotonic() - started < 5.0
    jobs = queries.names.jobs
    assert await scalar(aconn, "SELECT count(*) FROM {t} WHERE status <> 'queued'", jobs) == 0
    ran = int(await scalar(aconn, "SELECT count(*) FROM {t}", done))
    left = int(await scalar(aconn, "SELECT count(*) FROM {t}", jobs))
    assert ran + left == len(ids)
    assert ran < len(ids), "the signal arrived while work was left"
    assert await scalar(aconn, "SELECT max(seen) FROM {t}", done) == 1
    stats = queries.names.statistics
    assert await scalar(aconn, "SELECT sum(count) FROM {t}", stats) == ran
    assert await scalar(aconn, "SELECT count(*) FROM {t}", queries.names.workers) == 0
    assert jobs_factory.done_table(queries.names) == done
