"""Workers behind a transaction-mode PgBouncer, and how many connections a worker holds.

Through a transaction pooler consecutive statements of one client run on different server
sessions: nothing may rely on session state (prepared statements, LISTEN). A worker needs one
connection for its work plus, when it listens, one for LISTEN.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import psycopg
import pytest

from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.producer import Queries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job, NewJob
from tests.waiting import eventually

JOBS = 600  # far more than the five executions after which psycopg would prepare


def worker(settings: Settings, ran: list[int]) -> QueueManager:
    manager = QueueManager(settings)

    @manager.entrypoint("pooled")
    async def pooled(job: Job) -> None:
        ran.append(job.id)

    return manager


async def sessions_of(aconn: psycopg.AsyncConnection[Any], manager: QueueManager) -> set[str]:
    """The application names of the server sessions a worker holds now."""
    cur = await aconn.execute(
        "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE %s",
        (f"pgqtop % {str(manager.worker_id)[:8]}",),
    )
    return {str(row[0]) for row in await cur.fetchall()}


async def drain(
    managers: list[QueueManager], ran: list[int], expected: int, aconn: Any, watch: QueueManager
) -> set[str]:
    """Run the managers until `expected` jobs ran; the union of `watch`'s sessions seen."""
    tasks = [asyncio.create_task(m.run()) for m in managers]
    seen: set[str] = set()
    try:

        async def all_ran() -> bool:
            seen.update(await sessions_of(aconn, watch))
            return len(ran) >= expected

        await eventually(all_ran, 60, f"{expected} jobs to run")
        seen.update(await sessions_of(aconn, watch))
    finally:
        for manager in managers:
            await manager.stop()
        await asyncio.gather(*tasks)
    return seen


@pytest.mark.parametrize("claim", ["update", "lock"])
async def test_workers_drain_through_a_transaction_pooler_without_errors(
    fast: Settings,
    pgbouncer_dsn: str,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    caplog: pytest.LogCaptureFixture,
    claim: str,
) -> None:
    """Either claim: a lock-held batch is one transaction, which the pooler keeps on one
    server session from its BEGIN to its COMMIT."""
    fast.engine = dataclasses.replace(fast.engine, claim=claim)
    pooled = dataclasses.replace(fast, dsn=pgbouncer_dsn, listen=False, poll_interval=0.1)
    ran: list[int] = []
    managers = [worker(pooled, ran), worker(pooled, ran)]
    await Queries(aconn, queries.names).enqueue_bulk(NewJob("pooled") for _ in range(JOBS))
    with caplog.at_level(logging.WARNING, logger="pgqtop"):
        await drain(managers, ran, JOBS, aconn, managers[0])

    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []
    assert sorted(ran) == sorted(set(ran)) and len(ran) == JOBS
    counted = await aconn.execute(
        psycopg.sql.SQL("SELECT coalesce(sum(count), 0) FROM {}").format(
            psycopg.sql.Identifier(queries.names.statistics)
        )
    )
    row = await counted.fetchone()
    assert row is not None and row[0] == JOBS


async def test_a_pooled_worker_holds_one_work_connection_and_at_most_one_listen(
    fast: Settings, dsn: str, queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any]
) -> None:
    """Direct, a worker keeps main's three (dequeue, completions, LISTEN), or with the lock
    claim one per lane instead of the dequeue's; told of a pooler by --listen-dsn it needs one
    work connection plus LISTEN, with --no-listen one in all."""
    held = dataclasses.replace(fast, engine=dataclasses.replace(fast.engine, claim="lock"))
    cases = [
        (fast, {"worker", "complete", "listen"}),
        (held, {"lane 0", "lane 1", "complete", "listen"}),
        (dataclasses.replace(fast, listen_dsn=dsn), {"worker", "listen"}),
        (dataclasses.replace(fast, listen=False, poll_interval=0.1), {"worker"}),
    ]
    for settings, purposes in cases:
        ran: list[int] = []
        manager = worker(settings, ran)
        await Queries(aconn, queries.names).enqueue_bulk(NewJob("pooled") for _ in range(JOBS))
        seen = await drain([manager], ran, JOBS, aconn, manager)
        suffix = str(manager.worker_id)[:8]
        assert seen == {f"pgqtop {purpose} {suffix}" for purpose in purposes}


async def test_listen_dsn_takes_the_listen_connection_elsewhere(
    fast: Settings,
    pgbouncer_dsn: str,
    dsn: str,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    # A long dequeue timeout: only a working NOTIFY path explains a job starting at once.
    fast.engine.dequeue_timeout = 30.0
    pooled = dataclasses.replace(fast, dsn=pgbouncer_dsn, listen_dsn=dsn)
    ran: list[int] = []
    manager = worker(pooled, ran)
    task = asyncio.create_task(manager.run())
    try:
        name = f"pgqtop listen {str(manager.worker_id)[:8]}"

        async def listening() -> bool:
            cur = await aconn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND query ILIKE 'LISTEN%%'",
                (name,),
            )
            row = await cur.fetchone()
            return row is not None and row[0] == 1

        await eventually(listening, 10, "the worker to listen on the direct DSN")
        for n in range(1, 4):
            await asyncio.sleep(0.3)
            started = time.monotonic()
            await queries.enqueue("pooled")
            await eventually(lambda n=n: _at_least(ran, n), 10, f"job {n}")
            assert time.monotonic() - started < 3.0
    finally:
        await manager.stop()
        await task


async def test_without_listen_a_worker_polls_every_poll_interval(
    fast: Settings, queries: ConsoleQueries
) -> None:
    fast.engine.dequeue_timeout = 30.0
    polling = dataclasses.replace(fast, listen=False, poll_interval=0.2)
    ran: list[int] = []
    manager = worker(polling, ran)
    task = asyncio.create_task(manager.run())
    try:
        await asyncio.sleep(0.5)
        waits = []
        for n in range(1, 4):
            started = time.monotonic()
            await queries.enqueue("pooled")
            await eventually(lambda n=n: _at_least(ran, n), 10, f"job {n}", step=0.01)
            waits.append(time.monotonic() - started)
        assert max(waits) < 1.0, waits
    finally:
        await manager.stop()
        await task


async def _at_least(ran: list[int], n: int) -> bool:
    return len(ran) >= n


async def test_connections_prepare_nothing_a_pooler_could_mix_up(
    settings: Settings, pgbouncer_dsn: str
) -> None:
    """psycopg prepares a statement after five runs; through a transaction pooler the next
    run may land on a server session that has (or lacks) that name."""
    from pgqtop.db.connection import connect_async

    pooled = dataclasses.replace(settings, dsn=pgbouncer_dsn)
    first = await connect_async(pooled, "pooled one")
    second = await connect_async(pooled, "pooled two")
    try:
        for n in range(20):
            for conn in (first, second):
                cur = await conn.execute("SELECT %s::int + 1", (n,))
                assert await cur.fetchone() == (n + 1,)
    finally:
        await first.close()
        await second.close()
