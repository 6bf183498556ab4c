"""A cancel is a request written on the job by a role allowed to write it; a NOTIFY on our
channel only makes the holder look sooner, so anyone who can connect cannot cancel anything.

Roles hold exactly what `pgqtop grants --for ...` prints; a role with no grants at all and a
read-only session stand for the rest of the database's users.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqtop.cli import main
from pgqtop.config import ObjectNames, Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job
from tests.waiting import eventually

PURPOSES = ("worker", "producer", "console")


@pytest.fixture
def roles(
    sync_conn: psycopg.Connection[Any],
    dsn: str,
    names: ObjectNames,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[dict[str, str]]:
    """A role per purpose holding what `pgqtop grants` prints for it, and one with none."""
    made: dict[str, str] = {}
    for purpose in (*PURPOSES, "nobody"):
        role = f"pgqtop_{purpose}_{uuid.uuid4().hex[:8]}"
        sync_conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        made[purpose] = role
        if purpose in PURPOSES:
            where = ["--dsn", dsn, "--prefix", names.prefix]
            assert main(["grants", "--role", role, "--for", purpose, *where]) == 0
            sync_conn.execute(capsys.readouterr().out.encode())
    yield made
    for role in made.values():
        sync_conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        sync_conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
async def sessions(
    dsn: str, roles: dict[str, str]
) -> AsyncIterator[dict[str, psycopg.AsyncConnection[Any]]]:
    """A connection as each role, plus a read-only session of the test's own user."""
    opened: dict[str, psycopg.AsyncConnection[Any]] = {}
    for purpose, role in roles.items():
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        opened[purpose] = conn
    opened["read-only"] = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, options="-c default_transaction_read_only=on"
    )
    yield opened
    for conn in opened.values():
        await conn.close()


Running = tuple[QueueManager, dict[int, float], set[int]]
"""A manager, when each of its jobs started, and the jobs whose handler was cancelled."""


@pytest.fixture
async def sleeper(fast: Settings) -> AsyncIterator[Running]:
    """A worker whose `sleepy` jobs sleep 60 s. Heartbeats are 20 s apart and polls 30 s, so
    a reaction within seconds comes from a NOTIFY (or a heartbeat it brought forward)."""
    fast.engine.retry_timer = 60.0
    fast.engine.heartbeat_interval = 20.0
    fast.engine.dequeue_timeout = 30.0
    started: dict[int, float] = {}
    cancelled: set[int] = set()
    manager = QueueManager(fast)

    @manager.entrypoint("sleepy")
    async def sleepy(job: Job) -> None:
        started[job.id] = time.monotonic()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.add(job.id)
            raise

    task = asyncio.create_task(manager.run())
    yield manager, started, cancelled
    await manager.stop(grace=0.5)
    await task


async def job_row(queries: ConsoleQueries, job_id: int) -> tuple[str, dt.datetime] | None:
    job = await queries.job_detail(job_id)
    return None if job is None or job.heartbeat is None else (job.status, job.heartbeat)


async def test_a_forged_notify_cancels_nothing_and_the_console_roles_request_does(
    sleeper: Running,
    sessions: dict[str, psycopg.AsyncConnection[Any]],
    queries: ConsoleQueries,
    names: ObjectNames,
) -> None:
    manager, started, cancelled = sleeper
    (job_id,) = await queries.enqueue("sleepy")
    await eventually(lambda: job_id in started, 10, "the job to start")
    forged = json.dumps({"op": "cancel", "job_ids": [job_id]})
    before = await job_row(queries, job_id)
    assert before is not None

    for who in ("nobody", "producer", "worker", "read-only"):
        conn = sessions[who]
        for channel in (names.channel, names.work_channel):  # the consoles' and the workers'
            await conn.execute("SELECT pg_notify(%s, %s)", (channel, forged))
        # Nor can they write the request the console writes.
        with pytest.raises(
            (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)
        ):
            await ConsoleQueries(conn, names).cancel([job_id])

    async def looked_again() -> bool:
        # The notifications bring a heartbeat forward (heartbeats are 20 s apart): once the
        # job's heartbeat moved, the worker has read the (absent) requests. A worker that
        # trusted the notification has ended the job by then.
        row = await job_row(queries, job_id)
        return row is None or row[1] > before[1]

    await eventually(looked_again, 10, "the worker to look at the job's requests")
    assert await job_row(queries, job_id) is not None, "a forged NOTIFY ended the job"
    assert (await job_row(queries, job_id) or ("",))[0] == "picked"
    assert cancelled == set()
    assert await queries.recent_failures() == []

    console = ConsoleQueries(sessions["console"], names)
    assert await console.cancel([job_id]) == 1

    async def canceled() -> bool:
        return [f.status for f in await queries.recent_failures()] == ["canceled"]

    # The job sleeps 60 s and heartbeats are 20 s apart: only the NOTIFY explains this.
    took = await eventually(canceled, 10, "the console's cancel to land")
    print(f"cancel requested by the console role landed in {took:.2f}s")
    assert cancelled == {job_id}
    assert await job_row(queries, job_id) is None
    assert manager.counters.canceled == 1


async def test_a_cancel_request_lands_within_a_heartbeat_when_its_notify_is_lost(
    fast: Settings,
    sessions: dict[str, psycopg.AsyncConnection[Any]],
    queries: ConsoleQueries,
    names: ObjectNames,
    running: Any,
) -> None:
    fast.engine.dequeue_timeout = 30.0
    fast.engine.heartbeat_interval = 0.5
    started: set[int] = set()
    manager = QueueManager(fast)

    @manager.entrypoint("sleepy")
    async def sleepy(job: Job) -> None:
        started.add(job.id)
        await asyncio.sleep(60)

    running(manager)
    (job_id,) = await queries.enqueue("sleepy")
    await eventually(lambda: job_id in started, 10, "the job to start")
    # The request as the console writes it, with no NOTIFY at all.
    await sessions["console"].execute(
        sql.SQL("UPDATE {} SET cancel_requested_at = now() WHERE id = %s").format(
            sql.Identifier(names.jobs)
        ),
        (job_id,),
    )

    async def canceled() -> bool:
        return [f.status for f in await queries.recent_failures()] == ["canceled"]

    took = await eventually(canceled, 10, "the next heartbeat to find the request")
    print(f"cancel request without NOTIFY landed in {took:.2f}s (heartbeat every 0.5s)")
    assert manager.counters.canceled == 1


async def test_the_worker_role_cannot_write_a_cancel_request(
    sessions: dict[str, psycopg.AsyncConnection[Any]], queries: ConsoleQueries, names: ObjectNames
) -> None:
    (job_id,) = await queries.enqueue("sleepy")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        await sessions["worker"].execute(
            sql.SQL("UPDATE {} SET cancel_requested_at = now() WHERE id = %s").format(
                sql.Identifier(names.jobs)
            ),
            (job_id,),
        )
