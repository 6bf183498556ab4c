"""Sync handlers that do not return: later jobs are not queued behind their threads (nor timed
out without running), the saturation shows, and shutdown still ends on time."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.metrics import MetricsServer
from tests.engine.conftest import headless, scalar
from tests.test_cli_admin import cli, target
from tests.waiting import eventually

HANG_SECONDS = 3.0


async def test_quick_jobs_wait_for_a_free_thread_instead_of_timing_out_behind_hung_ones(
    fast: Settings,
    queries: ConsoleQueries,
    running: Callable[[QueueManager], None],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fast.engine.concurrency = 2
    release = threading.Event()
    quick_ran: list[int] = []
    manager = QueueManager(fast)

    @manager.entrypoint("hang", timeout=0.5)
    def hang(job: Job) -> None:
        release.wait(HANG_SECONDS)

    @manager.entrypoint("quick", timeout=0.5)
    def quick(job: Job) -> None:
        quick_ran.append(job.id)

    await queries.enqueue(["hang"] * 2, priority=1)
    quick_ids = await queries.enqueue(["quick"] * 4)
    running(manager)

    async def both_hung() -> bool:
        return manager.hung_threads == 2 and len(await queries.recent_failures()) == 2

    await eventually(both_hung, 10, "both hang jobs to time out")

    async def shown_in_registry() -> bool:
        rows = [w for w in await queries.workers() if w.id == manager.worker_id]
        return bool(rows) and rows[0].hung_threads == 2

    await eventually(shown_in_registry, 10, "the heartbeat row to show two hung threads")
    code, out, _ = await asyncio.to_thread(
        cli, capsys, "workers", "--json", *target(fast.dsn, fast.names)
    )
    [listed] = json.loads(out)["workers"]
    assert (code, listed["hung_threads"]) == (0, 2)
    assert listed["rss_bytes"] > 10 * 1024**2
    metrics = MetricsServer(manager, "127.0.0.1", 0).respond("GET", "/metrics")[2].decode()
    assert 'pgqtop_threads{kind="hung"} 2.0' in metrics
    assert "thread pool saturated: 2 of 2 threads busy" in caplog.text
    # Nothing was handed to a pool with no free thread: the quick jobs still wait, untimed.
    assert quick_ran == []
    assert await queries.count_matching(["quick"]) == 4

    release.set()
    await eventually(lambda: len(quick_ran) == 4, 10, "the quick jobs once threads are free")
    await eventually(lambda: manager.counters.processed == 6, 10, "every outcome")
    failures = await queries.recent_failures()
    assert sorted(f.entrypoint for f in failures) == ["hang", "hang"]
    assert {f.error for f in failures} == {"timed out after 0.5s"}
    assert sorted(quick_ran) == quick_ids
    assert manager.hung_threads == 0


async def test_sigterm_ends_a_worker_whose_sync_handler_never_returns_within_the_grace(
    fast: Settings, queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    (job_id,) = await queries.enqueue("delta", "sleep:3600")
    worker = headless(
        fast, log, "--factory", "tests.engine.jobs_factory:register", "--shutdown-grace", "1"
    )
    jobs = queries.names.jobs

    async def taken() -> bool:
        query = "SELECT count(*) FROM {t} WHERE status = 'picked'"
        return int(await scalar(aconn, query, jobs)) == 1

    try:
        await eventually(taken, 20, "the worker to take the job")
        await asyncio.sleep(0.5)  # into the handler's sleep
        worker.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.to_thread(worker.wait, 15)
        took = time.monotonic() - started
    finally:
        if worker.poll() is None:
            worker.kill()
    print(f"SIGTERM to exit with a hung sync handler and a 1s grace: {took:.2f}s")
    assert code == 0, log.read_text()
    assert took < 1 + 5, log.read_text()  # the grace, plus a few seconds
    # Left to the retry timer of the other workers, not lost.
    assert await scalar(aconn, "SELECT id FROM {t} WHERE status = 'picked'", jobs) == job_id
