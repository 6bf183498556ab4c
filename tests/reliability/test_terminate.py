"""pg_terminate_backend on each of a worker's connections in turn, while it is busy.

tests/engine/test_resilience.py terminates one connection per run with a trickle of jobs; this
one does all three (dequeue, completion, listener) one after another within a single run under
load, beside a second worker, and then checks the books: every job run and counted once.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames, Settings
from pgqtop.db.producer import Queries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job, NewJob
from tests.reliability.conftest import counted, fast_settings, remaining_jobs, running
from tests.waiting import eventually

JOBS = 2000
PURPOSES = ("worker", "complete", "listen")


async def backends(conn: psycopg.AsyncConnection[Any], application_name: str) -> list[int]:
    cur = await conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
    )
    return [int(r[0]) for r in await cur.fetchall()]


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_each_engine_connection_terminated_in_turn_under_load_loses_nothing(
    dsn: str, names: ObjectNames, aconn: psycopg.AsyncConnection[Any]
) -> None:
    settings: Settings = fast_settings(dsn, names, retry_timer=5.0)
    runs: collections.Counter[int] = collections.Counter()

    def manager() -> QueueManager:
        qm = QueueManager(settings)

        async def handle(job: Job) -> None:
            await asyncio.sleep(0.01)
            runs[job.id] += 1

        qm.entrypoint("load")(handle)
        return qm

    target, bystander = manager(), manager()
    states: list[str] = []
    target.add_listener(lambda event: states.append(event.state))
    await Queries(aconn, names).enqueue_bulk(NewJob("load") for _ in range(JOBS))
    suffix = str(target.worker_id)[:8]
    async with running(target, bystander):
        for step, purpose in enumerate(PURPOSES, start=1):

            def progressed(step: int = step) -> bool:
                return sum(runs.values()) >= JOBS * step // 5

            await eventually(progressed, 30, "progress")
            name = f"pgqtop {purpose} {suffix}"
            (pid,) = await backends(aconn, name)
            await aconn.execute("SELECT pg_terminate_backend(%s)", (pid,))

            async def replaced(name: str = name, old: int = pid) -> bool:
                pids = await backends(aconn, name)
                return bool(pids) and old not in pids

            await eventually(replaced, 15, f"the {purpose} connection to come back")
        await eventually(lambda: remaining_jobs(dsn, names) == 0, 30, "the queue to drain")
        await eventually(lambda: counted(dsn, names) == JOBS, 10, "every outcome written")
        assert target.state == "running"
    assert "reconnecting" in states
    assert len(runs) == JOBS
    # A dequeue whose reply died with its connection is re-taken after the retry timer: only
    # such jobs, at most a batch per termination, may run twice.
    assert sum(n - 1 for n in runs.values()) <= settings.engine.batch_size * len(PURPOSES)
    assert target.counters.processed > 0 and bystander.counters.processed > 0
