"""PostgreSQL restarts under a running fleet: workers and consoles come back by themselves and
what finished during the outage is written afterwards, not dropped."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import pytest

from pgqtop.config import Settings
from pgqtop.db.connection import connect_async
from pgqtop.db.producer import Queries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job, NewJob
from pgqtop.tui.app import PgqtopApp
from tests.reliability.cluster import Cluster
from tests.reliability.conftest import counted, remaining_jobs, running
from tests.waiting import eventually

JOBS = 300
OUTAGE_SECONDS = 2.0
RECONNECT_LIMIT = 10.0


def counting_manager(settings: Settings, runs: collections.Counter[int]) -> QueueManager:
    """Handlers count their runs in memory: they must keep working while the database is gone."""
    manager = QueueManager(settings)

    async def handle(job: Job) -> None:
        # Long enough that jobs are still running when the server is gone.
        await asyncio.sleep(0.4)
        runs[job.id] += 1

    for name in ("orders", "mail"):
        manager.entrypoint(name)(handle)
    return manager


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_workers_reconnect_after_a_restart_and_flush_outcomes_buffered_during_it(
    cluster: Cluster, cluster_settings: Settings
) -> None:
    settings, names = cluster_settings, cluster_settings.names
    conn = await connect_async(settings, "test producer")
    async with conn:
        await Queries(conn, names).enqueue_bulk(
            NewJob(("orders", "mail")[i % 2]) for i in range(JOBS)
        )
    runs: collections.Counter[int] = collections.Counter()
    managers = [counting_manager(settings, runs) for _ in range(2)]
    states: list[tuple[float, str]] = []
    for manager in managers:
        manager.add_listener(lambda event: states.append((time.monotonic(), event.state)))

    def processed() -> int:
        return sum(m.counters.processed for m in managers)

    async with running(*managers):
        await eventually(lambda: processed() >= JOBS // 6, 30, "a sixth of the jobs")
        await asyncio.to_thread(cluster.stop)
        down_at, processed_at_stop = time.monotonic(), processed()
        await asyncio.sleep(OUTAGE_SECONDS)
        finished_while_down = processed() - processed_at_stop
        await asyncio.to_thread(cluster.start)
        up_at = time.monotonic()
        await eventually(
            lambda: all(m.state == "running" for m in managers),
            RECONNECT_LIMIT,
            "both workers to report running again",
        )
        reconnected_in = time.monotonic() - up_at
        await eventually(lambda: remaining_jobs(settings.dsn, names) == 0, 60, "the queue to drain")
        await eventually(lambda: counted(settings.dsn, names) == JOBS, 10, "every count")

    # Jobs that finished while the server was down had nowhere to be written but memory.
    assert finished_while_down > 0
    assert any(state == "reconnecting" and down_at <= at < up_at for at, state in states)
    assert reconnected_in < RECONNECT_LIMIT
    assert len(runs) == JOBS
    assert counted(settings.dsn, names, "successful") == JOBS
    # A job runs twice only if a worker held it when the server went away.
    twice = sum(1 for n in runs.values() if n > 1)
    assert twice <= sum(m.concurrency for m in managers)


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_open_console_shows_reconnecting_then_recovers_after_a_restart(
    cluster: Cluster, cluster_settings: Settings, tmp_path: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("PGQTOP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PGQTOP_STATE_DIR", str(tmp_path / "state"))
    app = PgqtopApp(cluster_settings, refresh=0.5, remember_state=False)
    seen: set[str] = set()

    def header() -> str:
        text = str(app.query_one("#header").render())
        seen.add(app.state.connection)
        return text

    async with app.run_test(size=(160, 48)):
        await eventually(lambda: "● connected" in header(), 15, "the console to connect")
        await asyncio.to_thread(cluster.stop)
        await eventually(lambda: "reconnecting in" in header(), 10, "the console to notice")
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(cluster.start)
        recovered = await eventually(
            lambda: "● connected" in header(), RECONNECT_LIMIT, "the console to reconnect"
        )
        # It reads the database again: a job enqueued now appears in the queues pane.
        conn = await connect_async(cluster_settings, "test producer")
        async with conn:
            await Queries(conn, cluster_settings.names).enqueue("after_restart")
        await eventually(
            lambda: any(row.entrypoint == "after_restart" for row in app.state.queues.values()),
            10,
            "the new job in the queues pane",
        )
    assert {"connected", "reconnecting"} <= seen
    assert recovered < RECONNECT_LIMIT
