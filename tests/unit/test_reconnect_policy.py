"""The reconnect policy's bookkeeping, with no server involved: why a connection was dropped,
how long until the next try, and one outage counted once however many users report it."""

from __future__ import annotations

import asyncio

import pytest

from pgqtop.config import Settings
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.link import ReconnectingConnection, failure_line
from pgqtop.engine.retry import Backoff

DSN = "postgresql://app:s3cret@db.example.com/app"


def test_a_failure_is_one_line_without_the_password() -> None:
    exc = OSError(f"connection to {DSN} refused\nHINT: is the server running?")
    line = failure_line(exc, DSN)
    assert "s3cret" not in line and "\n" not in line
    assert line.startswith("connection to postgresql://app:***@db.example.com/app refused")


def test_a_query_that_took_too_long_says_so() -> None:
    assert failure_line(TimeoutError(), DSN) == "database did not answer in time"


def test_an_error_without_text_is_named_by_its_type() -> None:
    assert failure_line(ConnectionResetError(), DSN) == "ConnectionResetError"


@pytest.fixture
def changes() -> list[str]:
    return []


@pytest.fixture
def connection(changes: list[str]) -> ReconnectingConnection[WorkerQueries]:
    return ReconnectingConnection(
        Settings(dsn=DSN),
        "test",
        WorkerQueries,
        backoff=Backoff(initial=0.02, maximum=1.0),
        on_change=lambda: changes.append("changed"),
    )


async def test_failures_in_a_row_wait_longer_each_time(
    connection: ReconnectingConnection[WorkerQueries], changes: list[str]
) -> None:
    first = await connection.lost(OSError("refused"))
    assert 0.01 <= first <= 0.02
    waiting = connection.retry_in()
    assert waiting is not None and waiting <= first
    await asyncio.sleep(first)
    second = await connection.lost(OSError("refused again"))
    assert 0.02 <= second <= 0.04
    assert connection.last_error == "refused again"
    assert changes == ["changed", "changed"], "each loss is reported for a status line"


async def test_users_sharing_a_connection_count_one_outage_once(
    connection: ReconnectingConnection[WorkerQueries],
) -> None:
    first = await connection.lost(OSError("server closed the connection"))
    # A second user hits the same dead connection before the next try: it waits for the same
    # attempt instead of pushing the backoff further.
    second = await connection.lost(OSError("server closed the connection"))
    assert second <= first
    await asyncio.sleep(first)
    assert 0.02 <= await connection.lost(OSError("refused")) <= 0.04, "the next step, not two on"


async def test_a_stop_cuts_the_wait_short() -> None:
    slow = ReconnectingConnection(
        Settings(dsn=DSN), "test", WorkerQueries, backoff=Backoff(initial=60.0)
    )
    stop = asyncio.Event()
    stop.set()
    await asyncio.wait_for(slow.broken(OSError("refused"), stop), 10)
    assert slow.retry_in() is not None
