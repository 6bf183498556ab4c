"""PgQueuer, driven through its public API: the peer in our benchmarks (`pip install .[bench]`)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgDriver, Queries, QueueManager
from pgqueuer.types import QueueExecutionMode

ENTRYPOINT = "noop"


async def reset(dsn: str) -> None:
    """Install PgQueuer's schema afresh (in its own tables of the benchmark database)."""
    conn = await asyncpg.connect(dsn)
    try:
        queries = Queries(AsyncpgDriver(conn))
        if await queries.schema_is_installed():
            await queries.uninstall()
        await queries.install()
    finally:
        await conn.close()


async def vacuum(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE pgqueuer, pgqueuer_statistics, pgqueuer_log")
        for statement in (
            "VACUUM ANALYZE pgqueuer",
            "VACUUM ANALYZE pgqueuer_statistics",
            "VACUUM ANALYZE pgqueuer_log",
        ):
            await conn.execute(statement)
    finally:
        await conn.close()


async def analyze(dsn: str) -> None:
    """Fresh planner statistics after the queue is filled, as pgqtop's side gets: with
    autovacuum off, the peer would otherwise plan its dequeue for an empty table."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE pgqueuer")
    finally:
        await conn.close()


async def enqueue(dsn: str, count: int, chunk: int = 1000) -> float:
    """Enqueue `count` no-op jobs in statements of `chunk`; returns jobs/s."""
    conn = await asyncpg.connect(dsn)
    try:
        queries = Queries(AsyncpgDriver(conn))
        started = time.perf_counter()
        for offset in range(0, count, chunk):
            size = min(chunk, count - offset)
            await queries.enqueue([ENTRYPOINT] * size, [None] * size, [0] * size)
        return count / (time.perf_counter() - started)
    finally:
        await conn.close()


async def drain(dsn: str, count: int, batch_size: int, instances: int) -> float:
    """Drain `count` pre-enqueued jobs with `instances` queue managers; returns jobs/s."""
    connections = [await asyncpg.connect(dsn) for _ in range(instances)]
    done = 0
    finished = asyncio.Event()
    managers: list[QueueManager] = []
    for conn in connections:
        qm = QueueManager(Queries(AsyncpgDriver(conn)))

        @qm.entrypoint(ENTRYPOINT)
        async def noop(job: object) -> None:
            nonlocal done
            done += 1
            if done >= count:
                finished.set()

        managers.append(qm)
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(
            qm.run(
                batch_size=batch_size,
                dequeue_timeout=timedelta(seconds=1),
                mode=QueueExecutionMode.drain,
            )
        )
        for qm in managers
    ]
    await asyncio.wait(tasks, timeout=600)
    elapsed = time.perf_counter() - started
    for conn in connections:
        await conn.close()
    return done / elapsed
