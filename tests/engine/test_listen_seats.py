"""Only a few workers of a fleet hold a LISTEN connection (engine/seats.py): the lowest ids
among the live workers that cover the same entrypoints. The rest stand by and poll, still run
jobs, and take a seat when a holder stops; a `--no-listen` worker neither holds nor blocks one."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.model import NewJob, short_id
from tests.waiting import eventually


def seated(settings: Settings, seats: int, *, listen: bool = True) -> Settings:
    return dataclasses.replace(
        settings,
        listen=listen,
        poll_interval=0.2,
        engine=dataclasses.replace(settings.engine, listen_seats=seats),
    )


def numbered(number: int) -> uuid.UUID:
    """A worker id that sorts by `number` (its first byte), its short form (the first four
    bytes, in the LISTEN session's name) unlike other tests' workers."""
    return uuid.UUID(int=(number << 120) | (random.getrandbits(24) << 96))


def worker(settings: Settings, number: int, ran: dict[int, uuid.UUID]) -> QueueManager:
    """A worker with a chosen id (so the order of seats is known) recording who ran what."""
    manager = QueueManager(settings)
    manager.worker_id = numbered(number)

    @manager.entrypoint("seated")
    async def seated_job(job: Job) -> None:
        ran[job.id] = manager.worker_id

    return manager


async def wakes(conn: psycopg.AsyncConnection[Any], settings: Settings) -> dict[int, str]:
    """Worker number -> how the registry says new work reaches it."""
    cur = await conn.execute(
        sql.SQL("SELECT id, wake FROM {}").format(sql.Identifier(settings.names.workers))
    )
    return {row[0].int >> 120: row[1] for row in await cur.fetchall()}


async def listening(conn: psycopg.AsyncConnection[Any], managers: list[QueueManager]) -> set[int]:
    """The numbers of the workers that have a session in LISTEN right now."""
    by_name = {f"pgqtop listen {short_id(m.worker_id)}": m.worker_id.int >> 120 for m in managers}
    cur = await conn.execute(
        "SELECT application_name FROM pg_stat_activity WHERE application_name = ANY(%s)"
        " AND query LIKE 'LISTEN %%'",
        (list(by_name),),
    )
    return {by_name[row[0]] for row in await cur.fetchall()}


async def test_only_the_first_seats_listen_the_rest_poll_and_run_jobs_and_a_seat_passes_on(
    fast: Settings,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    running: Callable[[QueueManager], None],
) -> None:
    settings = seated(fast, 2)
    ran: dict[int, uuid.UUID] = {}
    managers = [worker(settings, n, ran) for n in (1, 2, 3, 4, 5)]
    for manager in managers:
        running(manager)

    seen: list[object] = []

    async def settled(expected: dict[int, str], sessions: set[int]) -> bool:
        seen[:] = [await wakes(aconn, settings), await listening(aconn, managers)]
        return seen == [expected, sessions]

    def detail() -> str:
        return f"registry and LISTEN sessions: {seen}"

    first = {1: "listen", 2: "listen", 3: "standby", 4: "standby", 5: "standby"}
    await eventually(
        lambda: settled(first, {1, 2}), 15, "workers 1 and 2 to hold the seats", detail=detail
    )

    await queries.enqueue_bulk(NewJob("seated") for _ in range(300))
    await eventually(lambda: len(ran) == 300, 20, "300 jobs to run")
    assert await listening(aconn, managers) == {1, 2}

    await managers[0].stop(grace=1.0)
    after = {2: "listen", 3: "listen", 4: "standby", 5: "standby"}
    await eventually(
        lambda: settled(after, {2, 3}), 15, "worker 3 to take the freed seat", detail=detail
    )


async def test_a_standby_takes_jobs_while_the_seat_holder_is_full(
    fast: Settings,
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    running: Callable[[QueueManager], None],
) -> None:
    settings = seated(fast, 1)
    ran: dict[int, uuid.UUID] = {}
    release = asyncio.Event()
    holder = QueueManager(settings)
    holder.worker_id = numbered(1)
    holder.set_concurrency(1)

    @holder.entrypoint("seated")
    async def blocked(job: Job) -> None:
        ran[job.id] = holder.worker_id
        await release.wait()

    standby = worker(settings, 2, ran)
    running(holder)
    running(standby)
    await eventually(
        lambda: _equals(wakes(aconn, settings), {1: "listen", 2: "standby"}),
        15,
        "worker 1 to hold the one seat",
    )
    try:
        for _ in range(2):  # whichever worker takes the first, the second is the standby's
            await queries.enqueue_bulk([NewJob("seated")])
            await asyncio.sleep(0.5)
        await eventually(lambda: standby.worker_id in ran.values(), 10, "the standby to run one")
        assert await listening(aconn, [holder, standby]) == {1}
    finally:
        release.set()


async def test_every_worker_listens_with_no_seat_limit_and_a_polling_worker_takes_no_seat(
    fast: Settings,
    aconn: psycopg.AsyncConnection[Any],
    running: Callable[[QueueManager], None],
) -> None:
    ran: dict[int, uuid.UUID] = {}
    # Worker 1 is told not to listen: it polls, and does not keep worker 2 from the one seat.
    managers = [
        worker(seated(fast, 1, listen=False), 1, ran),
        worker(seated(fast, 1), 2, ran),
        worker(seated(fast, 1), 3, ran),
    ]
    unlimited = [worker(seated(fast, 0), n, ran) for n in (4, 5)]
    for manager in managers + unlimited:
        running(manager)
    expected = {1: "poll", 2: "listen", 3: "standby", 4: "listen", 5: "listen"}
    await eventually(
        lambda: _equals(wakes(aconn, fast), expected), 15, "the seats to settle as expected"
    )
    assert await listening(aconn, managers + unlimited) == {2, 4, 5}


async def _equals(found: Any, expected: object) -> bool:
    return bool(await found == expected)


async def test_a_burst_takes_no_seat(
    fast: Settings, queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any]
) -> None:
    """A burst drains what is there and stops: it holds no LISTEN, so it keeps no long-lived
    worker from a seat."""
    release = asyncio.Event()
    burst = QueueManager(seated(fast, 1))
    burst.worker_id = numbered(1)

    @burst.entrypoint("seated")
    async def held(job: Job) -> None:
        await release.wait()

    await queries.enqueue_bulk([NewJob("seated")])
    task = asyncio.create_task(burst.run_burst())
    try:
        await eventually(
            lambda: _equals(wakes(aconn, fast), {1: "poll"}), 15, "the burst to say it polls"
        )
        assert await listening(aconn, [burst]) == set()
    finally:
        release.set()
    result = await task
    assert result.succeeded == 1
