"""Enqueue inside the caller's psycopg transaction: the job exists only if it commits, and no
running worker sees it before."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from pgqtop import Job, Queries, QueueManager, SyncQueries
from pgqtop.config import Settings
from pgqtop.errors import UsageError
from tests.integrations.conftest import Boom
from tests.waiting import eventually


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[list[int]]:
    """A worker running all along, polling every 0.1 s: the job ids it ran."""
    settings.engine = dataclasses.replace(
        settings.engine, dequeue_timeout=0.1, flush_interval=0.002
    )
    ran: list[int] = []
    manager = QueueManager(settings)

    @manager.entrypoint("welcome")
    async def welcome(job: Job) -> None:
        ran.append(job.id)

    task = asyncio.create_task(manager.run())

    async def up() -> bool:
        return manager.state == "running"

    await eventually(up, 10, "the worker")
    yield ran
    await manager.stop(grace=1.0)
    await task


async def test_async_a_job_enqueued_in_a_transaction_runs_only_once_it_commits(
    settings: Settings, worker: list[int], jobs_seen: Callable[[str], int]
) -> None:
    async with await psycopg.AsyncConnection.connect(settings.dsn) as conn:
        async with conn.transaction():
            (job_id,) = await Queries(conn, settings.names).enqueue("welcome", "ana")
            await asyncio.sleep(0.6)  # six polls of the running worker
            assert worker == [] and jobs_seen("welcome") == 0

        async def ran() -> bool:
            return worker == [job_id]

        await eventually(ran, 10, "the committed job")

        with pytest.raises(Boom):
            async with conn.transaction():
                await Queries(conn, settings.names).enqueue("welcome", "bo")
                raise Boom
    await asyncio.sleep(0.6)
    assert worker == [job_id] and jobs_seen("welcome") == 0


async def test_sync_a_job_enqueued_in_a_transaction_runs_only_once_it_commits(
    settings: Settings, worker: list[int], jobs_seen: Callable[[str], int]
) -> None:
    with psycopg.connect(settings.dsn) as conn:
        tx = conn.transaction()
        tx.__enter__()
        (job_id,) = SyncQueries.from_connection(conn, settings.names).enqueue("welcome")
        await asyncio.sleep(0.6)
        assert worker == [] and jobs_seen("welcome") == 0
        tx.__exit__(None, None, None)  # commit

        async def ran() -> bool:
            return worker == [job_id]

        await eventually(ran, 10, "the committed job")

        with pytest.raises(Boom), conn.transaction():
            SyncQueries(conn, settings.names).enqueue("welcome")
            raise Boom
    await asyncio.sleep(0.6)
    assert worker == [job_id] and jobs_seen("welcome") == 0


async def test_the_wrong_kind_of_connection_is_one_clear_error(settings: Settings) -> None:
    async with await psycopg.AsyncConnection.connect(settings.dsn) as conn:
        with pytest.raises(UsageError, match="async connection: use `await Queries"):
            SyncQueries.from_connection(conn)
    with (
        psycopg.connect(settings.dsn) as sync_conn,
        pytest.raises(UsageError, match="sync connection: use `SyncQueries"),
    ):
        await Queries.from_connection(sync_conn)
    thing: Any = object()
    with pytest.raises(UsageError, match=r"cannot enqueue through a builtins\.object"):
        SyncQueries.from_connection(thing)
