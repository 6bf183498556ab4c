"""Eight workers completing into the same statistics keys for a sustained run: no deadlock.

tests/test_queries.py drives eight raw completers for a few rounds; this runs eight whole
QueueManagers (dequeue, buffer, heartbeats, failures table) against a steady producer for
several seconds, on the throwaway server so that `pg_stat_database.deadlocks` counts only us.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import time

import psycopg
import pytest

from pgqtop.config import Settings
from pgqtop.db.connection import connect_async
from pgqtop.db.producer import Queries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job
from tests.reliability.conftest import counted, remaining_jobs, running
from tests.waiting import eventually

WORKERS = 8
SUSTAIN_SECONDS = float(os.environ.get("PGQTOP_DEADLOCK_SECONDS", "10"))
ENTRYPOINTS = ("e1", "e2", "e3")
BATCH = 30
EVERY = 0.03


def pgqtop_sessions(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgqtop %'"
        ).fetchone()
        assert row is not None
        return int(row[0])


def deadlocks(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        return int(row[0])


def worker(settings: Settings, rng: random.Random) -> QueueManager:
    manager = QueueManager(settings)

    async def handle(job: Job) -> None:
        if rng.random() < 0.2:  # failures upsert their own statistics rows and failure rows
            raise ValueError("declined")

    for name in ENTRYPOINTS:
        manager.entrypoint(name)(handle)
    return manager


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_eight_workers_on_the_same_statistics_keys_never_deadlock(
    cluster_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Every worker listens (no listen seats), so all eight take and complete side by side
    # however quickly the first ones drain each enqueue.
    engine = dataclasses.replace(cluster_settings.engine, listen_seats=0)
    settings = dataclasses.replace(cluster_settings, engine=engine)
    names = settings.names
    rng = random.Random(8)
    managers = [worker(settings, rng) for _ in range(WORKERS)]
    before = deadlocks(settings.dsn)
    enqueued = 0
    caplog.set_level(logging.WARNING, logger="pgqtop")
    conn = await connect_async(settings, "test producer")
    async with conn, running(*managers):
        producer = Queries(conn, names)
        ends = time.monotonic() + SUSTAIN_SECONDS
        while time.monotonic() < ends:
            entrypoints = [ENTRYPOINTS[i % 3] for i in range(BATCH)]
            # Few priorities: every worker hits the same (second, entrypoint, status, priority).
            await producer.enqueue(entrypoints, None, [i % 2 for i in range(BATCH)])
            enqueued += BATCH
            await asyncio.sleep(EVERY)
        await eventually(lambda: remaining_jobs(settings.dsn, names) == 0, 60, "the drain")
        await eventually(lambda: counted(settings.dsn, names) == enqueued, 10, "every count")
        busy = sum(1 for m in managers if m.counters.processed > 0)
    # A backend reports its counters when it exits: wait for every pgqtop session to end.
    await eventually(lambda: pgqtop_sessions(settings.dsn) == 0, 15, "the sessions to end")
    assert deadlocks(settings.dsn) == before
    flush_troubles = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert flush_troubles == [], "every completion and heartbeat succeeded the first time"
    assert busy == WORKERS, "all eight workers took part"
    failed = counted(settings.dsn, names, "exception")
    print(f"{enqueued} jobs through {WORKERS} workers, {failed} failed, no deadlock")
    assert 0 < failed < enqueued
