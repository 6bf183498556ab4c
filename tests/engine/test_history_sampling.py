"""Running workers take the queue-history samples from their heartbeat loop: with several of
them, still one sample per slot, and none at all when sampling is turned off."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import psycopg

from pgqtop import Job, QueueManager
from pgqtop.config import ObjectNames, Settings
from pgqtop.db.console import ConsoleQueries
from tests.test_schema import sq
from tests.waiting import eventually


def sampled(conn: psycopg.Connection[Any], names: ObjectNames) -> list[tuple[Any, ...]]:
    """(slot, worker id) of every sample taken, oldest first."""
    return conn.execute(
        sq(
            "SELECT slot, worker_id FROM {samples} ORDER BY slot",
            names,
            samples=names.history_samples,
        )
    ).fetchall()


def manager_for(settings: Settings) -> QueueManager:
    manager = QueueManager(settings)

    @manager.entrypoint("later")
    async def later(job: Job) -> None:
        pass

    return manager


async def test_a_fleet_of_workers_takes_one_sample_per_slot(
    fast: Settings,
    running: Callable[[QueueManager], None],
    queries: ConsoleQueries,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    fast.history_interval = 1.0
    fast.engine = dataclasses.replace(fast.engine, heartbeat_interval=0.2)
    await queries.enqueue(["later"] * 4, execute_after=3600)
    managers = [manager_for(fast) for _ in range(3)]
    for manager in managers:
        running(manager)

    await eventually(lambda: len(sampled(sync_conn, names)) >= 4, 30, "four samples")

    samples = sampled(sync_conn, names)
    slots = [slot for slot, _ in samples]
    assert len(set(slots)) == len(slots)
    assert all((b - a).total_seconds() >= 1.0 for a, b in itertools.pairwise(slots))
    assert {worker for _, worker in samples} <= {m.worker_id for m in managers}
    history = await queries.queue_history(3600, entrypoint="later")
    assert history and all(s.entrypoints["later"].scheduled == 4 for s in history)


async def test_no_samples_when_sampling_is_turned_off(
    fast: Settings,
    running: Callable[[QueueManager], None],
    queries: ConsoleQueries,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    fast.history_interval = 0
    fast.engine = dataclasses.replace(fast.engine, heartbeat_interval=0.2)
    manager = manager_for(fast)
    running(manager)

    async def beating_for_a_second() -> bool:
        rows = [w for w in await queries.workers() if w.id == manager.worker_id]
        return bool(rows) and (rows[0].heartbeat - rows[0].started).total_seconds() >= 1.0

    # Heartbeats come every 0.2 s: a second of them is five tries a sampler would have made.
    await eventually(beating_for_a_second, 30, "a second of heartbeats")
    assert sampled(sync_conn, names) == []
