"""The demo workload: its producer fills every demo queue, and its handlers give the console
successes, retries and final failures with tracebacks to show."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg

from pgqtop import demo
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.manager import QueueManager
from tests.waiting import eventually


async def counts_by_entrypoint(queries: ConsoleQueries) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in await queries.queue_counts():
        totals[row.entrypoint] = totals.get(row.entrypoint, 0) + row.count
    return totals


async def test_producer_enqueues_json_jobs_for_every_demo_entrypoint(
    settings: Settings, queries: ConsoleQueries
) -> None:
    stop = asyncio.Event()
    producer = asyncio.create_task(demo.produce(settings, stop))
    # The first burst holds one job of every kind at least.
    await eventually(lambda: _has_jobs(queries), 15, "the producer's first burst")
    stop.set()
    await asyncio.wait_for(producer, 5)

    counts = await counts_by_entrypoint(queries)
    assert set(counts) == set(demo.ENTRYPOINTS)
    assert counts["send_email"] > counts["sync_crm"] >= 1, "mail arrives far faster than CRM"
    for name in demo.ENTRYPOINTS:
        jobs = await queries.browse_jobs(entrypoint=name, limit=5)
        assert jobs and all(isinstance(job.json(), dict) for job in jobs)
        assert all(job.headers and job.headers["source"] == "demo" for job in jobs)


async def test_producer_reconnects_after_its_connection_is_killed(
    settings: Settings, queries: ConsoleQueries, sync_conn: psycopg.Connection[Any]
) -> None:
    stop = asyncio.Event()
    producer = asyncio.create_task(demo.produce(settings, stop))
    try:
        await eventually(lambda: _has_jobs(queries), 15, "the producer's first burst")
        killed = sync_conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'pgqtop demo producer'"
        ).fetchone()
        assert killed is not None and killed[0] >= 1
        before = sum((await counts_by_entrypoint(queries)).values())

        async def grew() -> bool:
            return sum((await counts_by_entrypoint(queries)).values()) > before

        await eventually(grew, 10, "the producer to keep enqueuing after the kill")
        assert not producer.done()
    finally:
        stop.set()
        await asyncio.wait_for(producer, 5)


async def _has_jobs(queries: ConsoleQueries) -> bool:
    return bool(await queries.queue_counts())


async def test_demo_engine_records_successes_and_a_final_card_decline(
    settings: Settings, queries: ConsoleQueries
) -> None:
    manager = QueueManager(settings)
    demo.register(manager)
    assert sorted(manager.entrypoints) == sorted([*demo.ENTRYPOINTS, *demo.SCHEDULED])
    stop = asyncio.Event()
    producer = asyncio.create_task(demo.produce(settings, stop))
    engine = asyncio.create_task(manager.run())

    async def declined_for_good() -> bool:
        outcomes = await queries.recent_outcomes(120)
        return (
            outcomes.get(("charge_card", "exception"), 0) >= 1
            and outcomes.get(("send_email", "successful"), 0) >= 1
        )

    try:
        # The declined card of the first burst fails three times: at once, +0.5 s, +1 s.
        await eventually(declined_for_good, 15, "a final card decline and a sent email")
    finally:
        stop.set()
        await asyncio.wait_for(producer, 5)
        await manager.stop(grace=0.5)
        await asyncio.wait_for(engine, 10)

    outcomes = await queries.recent_outcomes(120)
    assert outcomes.get(("resize_image", "successful"), 0) >= 1
    assert [(s.entrypoint, s.expression) for s in await queries.schedules()] == list(
        demo.SCHEDULED.items()
    )
    failures = await queries.recent_failures(entrypoint="charge_card")
    final = [f for f in failures if f.final]
    assert final and final[0].attempts == 3
    detail = await queries.failure_detail(final[0].id)
    assert detail is not None
    assert "CardDeclined: card_declined" in detail.traceback
    assert "_gateway_authorize" in detail.traceback
    assert detail.payload is not None
    assert json.loads(detail.payload)["card_last4"] == demo.DECLINED_CARD
