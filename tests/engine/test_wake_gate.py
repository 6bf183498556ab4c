"""A worker in its quiet time (its last look found nothing) still takes new work as soon as
the quiet time ends, not at the next dequeue timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine import herd
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job
from tests.waiting import eventually


async def test_new_work_during_the_quiet_time_is_taken_when_it_ends(
    fast: Settings, queries: ConsoleQueries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(herd, "QUIET_MIN", 1.0)
    monkeypatch.setattr(herd, "QUIET_MAX", 1.0)
    fast.engine.dequeue_timeout = 30.0  # only the deferred look explains a prompt start
    ran: list[float] = []
    manager = QueueManager(fast)

    @manager.entrypoint("quiet")
    async def quiet(job: Job) -> None:
        ran.append(time.monotonic())

    task = asyncio.create_task(manager.run())
    try:
        await eventually(lambda: manager.state == "running", 10, "the worker to start")
        # Its first look found nothing: it is quiet for 0.5-1 s now. Work arrives meanwhile.
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await queries.enqueue("quiet")
        await eventually(lambda: bool(ran), 10, "the job to run")
        took = ran[0] - started
        assert took < 3.0, took
    finally:
        await manager.stop()
        await task
