"""PostgreSQL crashes (`pg_ctl stop -m immediate`) mid-drain, the outage longer than the retry
timer: the worker comes back, re-runs none of the jobs it held, and each job is counted once.

One worker, so that nothing but that worker could re-take its jobs: some run longer than the
outage, so they are still running, their heartbeat long stale, when it reconnects with room
to take more.
"""

from __future__ import annotations

import asyncio
import collections

import psycopg
import pytest
from psycopg import sql

from pgqtop.config import Settings
from pgqtop.db.connection import connect_async
from pgqtop.db.producer import Queries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job, NewJob
from tests.reliability.cluster import Cluster
from tests.reliability.conftest import counted, remaining_jobs, running
from tests.waiting import eventually

SHORT_JOBS = 200
LONG_JOBS = 4
OUTAGE_SECONDS = 3.0
RETRY_TIMER = 2.0
LONG_SECONDS = OUTAGE_SECONDS + 3.0


def durable_commits(cluster: Cluster, on: bool) -> None:
    """The throwaway server commits asynchronously; a crash would then forget the last
    commits (a take, a completion) and a job would honestly run again. This test is about
    what the worker does, so commits reach the WAL before they return."""
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        setting = sql.SQL("ALTER DATABASE postgres SET synchronous_commit = {}").format(
            sql.SQL("on" if on else "off")
        )
        conn.execute(setting)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_crash_mid_drain_reruns_nothing_the_worker_held_and_counts_each_job_once(
    cluster: Cluster, cluster_settings: Settings
) -> None:
    settings, names = cluster_settings, cluster_settings.names
    settings.engine.retry_timer = RETRY_TIMER
    durable_commits(cluster, True)
    runs: collections.Counter[int] = collections.Counter()
    manager = QueueManager(settings)

    @manager.entrypoint("drain")
    async def drain(job: Job) -> None:
        await asyncio.sleep(LONG_SECONDS if job.priority else 0.05)
        runs[job.id] += 1

    try:
        conn = await connect_async(settings, "test producer")
        async with conn:
            jobs = [NewJob("drain", priority=1) for _ in range(LONG_JOBS)]
            jobs += [NewJob("drain") for _ in range(SHORT_JOBS)]
            await Queries(conn, names).enqueue_bulk(jobs)
        async with running(manager):
            await eventually(lambda: len(runs) >= SHORT_JOBS // 4, 30, "a quarter of the jobs")
            await asyncio.to_thread(cluster.stop, "immediate")
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(cluster.start)
            await eventually(lambda: remaining_jobs(settings.dsn, names) == 0, 60, "the drain")
            await eventually(lambda: counted(settings.dsn, names) >= len(jobs), 10, "the counts")
    finally:
        if not cluster.running():
            cluster.start()
        durable_commits(cluster, False)

    again = {job_id: n for job_id, n in runs.items() if n > 1}
    assert len(runs) == len(jobs)
    assert again == {}, "the worker re-ran jobs it held"
    assert counted(settings.dsn, names) == len(jobs)
    assert counted(settings.dsn, names, "successful") == len(jobs)
