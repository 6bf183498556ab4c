"""Workers listen on a channel of their own, which carries only what a worker acts on: jobs
that became queued and control changes. The takes and completions of a busy fleet (most of
the traffic) reach the consoles' channel only, so they do not wake every listening worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.model import NewJob, parse_event
from tests.waiting import eventually


async def listening(dsn: str, channel: str) -> psycopg.AsyncConnection[Any]:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    return conn


async def heard(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    """The ops of the notifications that arrived so far."""
    ops: list[str] = []
    gen = conn.notifies(timeout=0.3)
    async for note in gen:
        ops.append(parse_event(note.payload).op)
    return ops


async def test_the_work_channel_carries_new_work_and_control_but_no_takes_or_completions(
    fast: Settings, queries: ConsoleQueries, running: Callable[[QueueManager], None]
) -> None:
    names = queries.names
    workers_side = await listening(fast.dsn, names.work_channel)
    consoles_side = await listening(fast.dsn, names.channel)
    manager = QueueManager(fast)
    ran: list[int] = []

    @manager.entrypoint("counted")
    async def counted(job: Job) -> None:
        ran.append(job.id)

    try:
        running(manager)
        await queries.enqueue_bulk(NewJob("counted") for _ in range(200))
        await eventually(lambda: len(ran) == 200, 15, "200 jobs to run")

        async def written() -> bool:
            return not await queries.queue_counts()

        await eventually(written, 10, "their outcomes to be written")
        await asyncio.sleep(0.2)
        await queries.pause(["counted"], reason="test")

        to_workers = await heard(workers_side)
        to_consoles = await heard(consoles_side)
    finally:
        await workers_side.close()
        await consoles_side.close()

    assert to_workers == ["insert", "pause"]
    assert {"insert", "update", "delete", "pause", "audit"} <= set(to_consoles)
