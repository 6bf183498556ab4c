"""A retry timer shorter than the configured heartbeat: the worker beats faster, never re-takes
what it still runs, and its in-flight counts cannot leak."""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
from collections.abc import Callable

import pytest

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.metrics import MetricsServer
from pgqtop.errors import UsageError
from tests.engine.conftest import ROOT
from tests.waiting import eventually

SECONDS = 1.5
"""Each job runs longer than the retry timer (1 s) but shorter than the heartbeat (5 s)."""


async def test_jobs_longer_than_the_retry_timer_run_once_on_a_healthy_worker(
    fast: Settings,
    queries: ConsoleQueries,
    running: Callable[[QueueManager], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fast.engine.retry_timer = 1.0
    fast.engine.heartbeat_interval = 5.0  # as configured; the worker must beat faster
    runs: collections.Counter[int] = collections.Counter()
    current = peak = 0
    manager = QueueManager(fast)

    @manager.entrypoint("slowlim", concurrency_limit=3)
    async def slowlim(job: Job) -> None:
        nonlocal current, peak
        runs[job.id] += 1
        current += 1
        peak = max(peak, current)
        try:
            await asyncio.sleep(SECONDS)
        finally:
            current -= 1

    ids = await queries.enqueue(["slowlim"] * 5)
    running(manager)
    await eventually(lambda: manager.counters.processed >= 5, 20, "five jobs")

    assert dict(runs) == dict.fromkeys(ids, 1)
    assert manager.counters.in_flight == 0
    assert manager.counters.by_entrypoint["slowlim"].in_flight == 0
    metrics = MetricsServer(manager, "127.0.0.1", 0).respond("GET", "/metrics")[2].decode()
    assert 'pgqtop_jobs_in_flight{entrypoint="slowlim"} 0.0' in metrics
    assert "never retrieved" not in caplog.text

    # The limit of three still holds three at once: nothing leaked from the first round.
    peak = 0
    more = await queries.enqueue(["slowlim"] * 3)
    await eventually(lambda: all(runs[i] for i in more), 10, "three more jobs")
    await eventually(lambda: manager.counters.processed >= 8, 10, "three more jobs to end")
    assert peak == 3
    assert max(runs.values()) == 1


def test_a_retry_timer_too_short_to_beat_within_is_refused_with_one_line(
    settings: Settings,
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgqtop",
            "--headless",
            "--factory",
            "tests.engine.jobs_factory:register",
            "--dsn",
            settings.dsn,
            "--prefix",
            settings.names.prefix,
            "--retry-timer",
            "0.5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "--retry-timer 0.5 is too short" in done.stderr


def test_the_engine_refuses_it_too(settings: Settings) -> None:
    settings.engine.retry_timer = 0.2
    with pytest.raises(UsageError, match="too short"):
        QueueManager(settings)
