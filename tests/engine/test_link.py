"""The one reconnect policy against a real server: the backoff starts over only after a
connection proved healthy, users of one connection resume together, and a new connection is
prepared before anyone gets it."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from pgqtop.config import Settings
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine import link
from pgqtop.engine.link import ReconnectingConnection
from pgqtop.engine.retry import Backoff
from tests.waiting import eventually


def quick(settings: Settings, purpose: str, **kwargs: Any) -> ReconnectingConnection[WorkerQueries]:
    return ReconnectingConnection(
        settings, purpose, WorkerQueries, backoff=Backoff(initial=0.02, maximum=5.0), **kwargs
    )


async def test_a_connection_that_fails_at_once_backs_off_further(settings: Settings) -> None:
    connection = quick(settings, "test fails at once")
    await connection.queries()
    first = await connection.lost(psycopg.errors.UndefinedTable("gone"))
    await asyncio.sleep(first)
    await connection.queries()
    # Up for a moment only: a statement that fails on every fresh connection must not
    # reconnect in a tight loop.
    assert 0.02 <= await connection.lost(psycopg.errors.UndefinedTable("gone")) <= 0.04
    await connection.close()


async def test_a_healthy_connection_lost_starts_the_backoff_over(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link, "HEALTHY_AFTER", 0.0)
    connection = quick(settings, "test healthy")
    for _ in range(3):
        await asyncio.sleep(await connection.lost(OSError("refused")))
    await connection.queries()
    assert await connection.lost(OSError("server closed the connection")) <= 0.02
    await connection.close()


async def test_a_user_waiting_out_a_step_resumes_when_another_brings_it_back(
    settings: Settings,
) -> None:
    connection = ReconnectingConnection(
        settings, "test shared", WorkerQueries, backoff=Backoff(initial=60.0)
    )
    await connection.queries()
    waiting = asyncio.create_task(connection.broken(OSError("server closed the connection")))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    queries = await connection.queries()  # the other user reconnects without waiting
    await asyncio.wait_for(waiting, 10)
    assert connection.current is queries and connection.retry_in() is None
    await connection.close()


async def sessions(aconn: psycopg.AsyncConnection[Any], application_name: str) -> int:
    cur = await aconn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def sessions_ended(aconn: psycopg.AsyncConnection[Any], application_name: str) -> bool:
    return await sessions(aconn, application_name) == 0


async def test_every_new_connection_is_prepared_and_a_failed_one_is_not_kept(
    settings: Settings, aconn: psycopg.AsyncConnection[Any]
) -> None:
    prepared: list[WorkerQueries] = []
    refuse = True

    async def prepare(queries: WorkerQueries) -> None:
        prepared.append(queries)
        if refuse:
            raise psycopg.OperationalError("not ready")

    connection = quick(settings, "test prepare", prepare=prepare)
    with pytest.raises(psycopg.OperationalError):
        await connection.queries()
    assert connection.current is None
    # The server ends a closed session's backend a moment after the client let go of it.
    await eventually(
        lambda: sessions_ended(aconn, "pgqtop test prepare"), 10, "the refused session to end"
    )
    refuse = False
    first = await connection.queries()
    assert prepared[-1] is first and await connection.queries() is first, "prepared once"
    await connection.lost(OSError("server closed the connection"))
    second = await connection.queries()
    assert second is not first and prepared[-1] is second
    await connection.close()


async def test_keep_running_survives_errors_until_stopped(settings: Settings) -> None:
    connection = quick(settings, "test keep running")
    stop = asyncio.Event()
    seen: list[int] = []

    async def step(queries: WorkerQueries) -> None:
        seen.append(queries.conn.info.backend_pid)
        if len(seen) < 3:
            raise psycopg.errors.UndefinedTable("not yet")
        stop.set()

    await asyncio.wait_for(connection.keep_running(step, stop), 10)
    assert len(set(seen)) == 3, "each failure got a fresh connection"
    assert connection.last_error == "not yet"
    await connection.close()
