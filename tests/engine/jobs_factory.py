"""Entrypoints for the engine tests, loaded in-process and by `pgqtop --headless --factory`.

Each handler records its job id in `<prefix>_done` (id primary key, `seen` counts repeats),
so a test can prove every job ran exactly once. Records are written in batches, as the engine
does, so that recording does not dominate the measurement; a handler returns only once its
record is committed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from psycopg import sql

from pgqtop import Job, QueueManager
from pgqtop.config import ObjectNames

ENTRYPOINTS = ("alpha", "beta", "gamma", "delta")
"""delta is a sync handler (thread pool); the others are async."""


def done_table(names: ObjectNames) -> str:
    return f"{names.prefix}_done"


def create_done_table(conn: psycopg.Connection[Any], names: ObjectNames) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id bigint PRIMARY KEY, entrypoint text NOT NULL,"
            " seen int NOT NULL DEFAULT 1, started float8 NOT NULL, attempts int NOT NULL)"
        ).format(sql.Identifier(done_table(names)))
    )


class Recorder:
    """Batches (job id, entrypoint, start time) rows into one INSERT every few milliseconds."""

    def __init__(self, dsn: str, names: ObjectNames) -> None:
        self.dsn = dsn
        self.statement = sql.SQL(
            "INSERT INTO {t} AS d (id, entrypoint, started, attempts)"
            " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::float8[], %s::int[])"
            " ON CONFLICT (id) DO UPDATE SET seen = d.seen + 1"
        ).format(t=sql.Identifier(done_table(names)))
        self.loop = asyncio.get_running_loop()
        self.pending: list[tuple[Job, float, asyncio.Future[None]]] = []
        self.wake = asyncio.Event()
        self.task = self.loop.create_task(self._run())

    async def record(self, job: Job) -> None:
        future: asyncio.Future[None] = self.loop.create_future()
        self.pending.append((job, time.time(), future))
        self.wake.set()
        await future

    def record_from_thread(self, job: Job) -> None:
        asyncio.run_coroutine_threadsafe(self.record(job), self.loop).result()

    async def _run(self) -> None:
        conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        async with conn:
            while True:
                await self.wake.wait()
                await asyncio.sleep(0.005)
                self.wake.clear()
                batch, self.pending = self.pending, []
                if not batch:
                    continue
                try:
                    await conn.execute(
                        self.statement,
                        (
                            [j.id for j, _, _ in batch],
                            [j.entrypoint for j, _, _ in batch],
                            [t for _, t, _ in batch],
                            [j.attempts for j, _, _ in batch],
                        ),
                    )
                except Exception as exc:
                    for _, _, future in batch:
                        future.set_exception(exc)
                    raise
                for _, _, future in batch:
                    if not future.done():
                        future.set_result(None)


async def register(qm: QueueManager) -> None:
    """Async on purpose: the factory may be a coroutine function."""
    recorder = Recorder(qm.settings.dsn, qm.settings.names)

    async def run(job: Job) -> None:
        text = job.text() or ""
        if text.startswith("sleep:") and job.attempts == 1:
            await asyncio.sleep(float(text.removeprefix("sleep:")))
        await recorder.record(job)

    for name in ENTRYPOINTS[:3]:
        qm.entrypoint(name)(run)

    @qm.entrypoint("delta")
    def delta(job: Job) -> None:
        text = job.text() or ""
        if text.startswith("sleep:") and job.attempts == 1:
            time.sleep(float(text.removeprefix("sleep:")))
        recorder.record_from_thread(job)
