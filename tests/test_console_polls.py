"""The console's polls are one round trip each: every statement of a poll goes out in one
pipeline and its rows are read after the pipeline's one sync, and the rows are those the
single reads return."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
from psycopg import pq

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status


class Trips:
    """How a poll used the connection: pipelines entered, and for each execute and each
    fetch whether the connection was in pipeline mode then."""

    def __init__(self) -> None:
        self.pipelines = 0
        self.executes: list[bool] = []
        self.fetches: list[bool] = []

    def reset(self) -> None:
        self.pipelines = 0
        self.executes.clear()
        self.fetches.clear()


@pytest.fixture
def trips(queries: ConsoleQueries, monkeypatch: pytest.MonkeyPatch) -> Trips:
    seen = Trips()
    conn = queries.conn
    pipeline = conn.pipeline

    @contextlib.asynccontextmanager
    async def counted_pipeline() -> AsyncIterator[Any]:
        seen.pipelines += 1
        async with pipeline() as p:
            yield p

    def in_pipeline() -> bool:
        return conn.pgconn.pipeline_status != pq.PipelineStatus.OFF

    def recorded(log: list[bool], method: Callable[..., Any]) -> Callable[..., Any]:
        async def call(self: psycopg.AsyncCursor[Any], *args: Any, **kwargs: Any) -> Any:
            if self.connection is conn:
                log.append(in_pipeline())
            return await method(self, *args, **kwargs)

        return call

    monkeypatch.setattr(conn, "pipeline", counted_pipeline)
    cursor = psycopg.AsyncCursor
    monkeypatch.setattr(cursor, "execute", recorded(seen.executes, cursor.execute))
    monkeypatch.setattr(cursor, "fetchall", recorded(seen.fetches, cursor.fetchall))
    return seen


async def fail_one(queries: ConsoleQueries, entrypoint: str) -> None:
    (job_id,) = await queries.enqueue(entrypoint)
    worker = uuid.uuid4()
    worker_queries = WorkerQueries(queries.conn, queries.names)
    await worker_queries.dequeue({entrypoint: 1}, 1, worker, 30.0)
    await worker_queries.complete(
        [Outcome(job_id, Status.EXCEPTION, 0.01, "ValueError: bad", "Traceback")], worker
    )


async def test_the_slow_poll_is_one_round_trip_with_the_single_reads_rows(
    queries: ConsoleQueries, trips: Trips
) -> None:
    await fail_one(queries, "send_email")
    await fail_one(queries, "resize_image")
    await queries.enqueue(["send_email", "send_email"])
    await queries.pause(["resize_image"], by="ana", reason="bad deploy")
    expected = (
        await queries.workers(),
        await queries.in_flight(),
        await queries.recent_failures(50),
        await queries.failures_since(3600),
        await queries.paused(),
        await queries.schedules(),
        await queries.audit_log(60, 50),
        await queries.failure_groups(limit=50),
    )
    trips.reset()

    polled = await queries.slow_poll(
        failure_rows=50, failure_window=3600, audit_window=60, audit_rows=50, groups=True
    )

    assert trips.pipelines == 1
    assert trips.executes == [True] * 8
    assert trips.fetches == [False] * 8  # read after the one sync, none forcing another
    found = (
        polled.workers,
        polled.held,
        polled.failures,
        polled.failed,
        polled.paused,
        polled.schedules,
        polled.audit,
        polled.groups,
    )
    assert found == expected
    assert polled.failed == {"send_email": 1, "resize_image": 1}
    assert [p.entrypoint for p in polled.paused] == ["resize_image"]
    assert [e.reason for e in polled.audit] == ["bad deploy"]


async def test_the_stats_poll_is_one_round_trip_with_the_single_reads_rows(
    queries: ConsoleQueries, trips: Trips
) -> None:
    await fail_one(queries, "send_email")
    expected = (
        await queries.recent_outcomes(60.0),
        await queries.statistics_series(60, 1),
        await queries.queue_history(60, 1),
    )
    trips.reset()

    polled = await queries.stats_poll(60, 1, history=True)

    assert (trips.pipelines, trips.executes, trips.fetches) == (1, [True] * 3, [False] * 3)
    assert (polled.outcomes, polled.series, polled.history) == expected
    assert polled.outcomes == {("send_email", "exception"): 1}
    quiet = await queries.stats_poll(60, 1, history=False)
    assert quiet.history is None and quiet.series == expected[1]
