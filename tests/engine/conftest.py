"""Engine test helpers: fast engine settings, the done table, headless subprocesses."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqtop.config import ObjectNames, Settings
from pgqtop.engine.logs import ROOT_LOGGER
from pgqtop.engine.manager import QueueManager
from tests.engine.jobs_factory import create_done_table, done_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_logger() -> Iterator[None]:
    """In-process CLI runs set up pgqtop's logger; put it back for the tests after."""
    logger = logging.getLogger(ROOT_LOGGER)
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Settings with short timers so tests wait milliseconds, not the production seconds."""
    settings.engine = dataclasses.replace(
        settings.engine,
        dequeue_timeout=0.5,
        heartbeat_interval=0.5,
        shutdown_grace=5.0,
        flush_interval=0.005,
    )
    return settings


@pytest.fixture
def done(sync_conn: psycopg.Connection[Any], names: ObjectNames) -> Iterator[str]:
    create_done_table(sync_conn, names)
    yield done_table(names)
    sync_conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(done_table(names))))


@pytest.fixture
async def running() -> AsyncIterator[Callable[[QueueManager], None]]:
    """Start managers in the background; every one is stopped at the end of the test."""
    started: list[tuple[QueueManager, asyncio.Task[None]]] = []

    def start(manager: QueueManager) -> None:
        started.append((manager, asyncio.create_task(manager.run())))

    yield start
    for manager, task in started:
        await manager.stop(grace=1.0)
        await task


async def scalar(conn: psycopg.AsyncConnection[Any], query: str, table: str) -> Any:
    """One value of a query on one of the test's tables (named through Identifier)."""
    cur = await conn.execute(sql.SQL(query).format(t=sql.Identifier(table)))  # type: ignore[arg-type]
    row = await cur.fetchone()
    assert row is not None
    return row[0]


def headless(settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `pgqtop --headless` against the test's prefix; output goes to `log`."""
    env = dict(os.environ, PGQTOP_DSN=settings.dsn, PGQTOP_PREFIX=settings.names.prefix)
    env["PYTHONPATH"] = str(ROOT)
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "pgqtop", "--headless", *args],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
