"""Latency percentiles end to end: the completion counts each job's wait and run time into the
statistics' histograms in its one statement, and the percentiles read back from a window match
known distributions within the bucket ratio."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from typing import Any

import psycopg
import pytest

from pgqtop import operations
from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from pgqtop.model.latency import BOUNDS, BUCKET_RATIO, bucket_of
from tests.test_cli_admin import cli, target
from tests.test_schema import sq
from tests.unit.test_latency import histogram_of, true_percentile


def stored_histograms(conn: psycopg.Connection[Any], names: ObjectNames) -> list[tuple[Any, ...]]:
    return conn.execute(
        sq(
            "SELECT status::text, count, wait_histogram, run_histogram FROM {statistics}"
            " ORDER BY created, status",
            names,
        )
    ).fetchall()


async def finish(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
    waits: list[float],
    runs: list[float],
    entrypoint: str = "lat",
) -> None:
    """Enqueue one job per (wait, run): each due `wait` seconds before it is taken, then
    finished as having run `run` seconds."""
    ids = await queries.enqueue([entrypoint] * len(waits))
    sync_conn.execute(
        sq(
            "UPDATE {jobs} j SET created = now() - make_interval(secs => w.wait + 1),"
            " execute_after = now() - make_interval(secs => w.wait)"
            " FROM unnest(%s::bigint[], %s::float8[]) AS w(id, wait) WHERE j.id = w.id",
            names,
        ),
        (ids, waits),
    )
    worker = uuid.uuid4()
    jobs = await worker_queries.dequeue({entrypoint: len(ids)}, len(ids), worker, 0)
    by_id = dict(zip(ids, runs, strict=True))
    outcomes = [Outcome(j.id, Status.SUCCESSFUL, by_id[j.id]) for j in jobs]
    await worker_queries.complete(outcomes, worker)


async def test_the_completion_counts_waits_and_runs_into_the_buckets_python_computes(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    # Run times on the bounds themselves and just below them: PostgreSQL's width_bucket over
    # the rendered bounds must place each where model.latency says.
    runs = [0.0, 0.0004, *BOUNDS[::5], *(b * 0.999 for b in BOUNDS[1::7]), BOUNDS[-1] * 3]
    # Waits in the middle of their buckets: the few milliseconds a dequeue adds stay inside.
    waits = [math.sqrt(BOUNDS[k] * BOUNDS[k + 1]) for k in range(15, 15 + len(runs))]
    await finish(queries, worker_queries, sync_conn, names, waits, runs)

    [(status, count, wait_histogram, run_histogram)] = stored_histograms(sync_conn, names)
    assert (status, count) == ("successful", len(runs))
    assert run_histogram == histogram_of(runs)
    assert wait_histogram == histogram_of(waits)
    assert [bucket_of(b) for b in BOUNDS[:3]] == [1, 2, 3]


async def test_completions_into_the_same_second_add_their_histograms(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    # One transaction: both completions see the same now(), so the second one's upsert meets
    # the first one's row, with a histogram of another length.
    async with queries.conn.transaction():
        await finish(queries, worker_queries, sync_conn, names, [1.5], [0.002])
        await finish(queries, worker_queries, sync_conn, names, [1.5, 1.5], [0.002, 30.0])

    [(_, count, _, run_histogram)] = stored_histograms(sync_conn, names)
    assert count == 3
    assert run_histogram == histogram_of([0.002, 0.002, 30.0])


async def test_percentiles_of_a_window_match_known_distributions(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    # Run times: a uniform spread 10-200 ms and a slow tail; waits: log-spaced 2 s .. 2 min.
    runs = [0.010 + 0.190 * i / 399 for i in range(400)] + [2.0 + i / 10 for i in range(30)]
    waits = [2.0 * 60 ** (i / 429) for i in range(430)]
    await finish(queries, worker_queries, sync_conn, names, waits[:200], runs[:200])
    await finish(queries, worker_queries, sync_conn, names, waits[200:], runs[200:])
    await finish(queries, worker_queries, sync_conn, names, [0.5], [0.1], entrypoint="other")

    found = await operations.latency(queries, 60)

    assert set(found) == {"lat", "other"}
    lat = found["lat"]
    assert lat.run.count == lat.wait.count == 430
    for fraction, run, wait in zip(
        (0.5, 0.95, 0.99),
        (lat.run.p50, lat.run.p95, lat.run.p99),
        (lat.wait.p50, lat.wait.p95, lat.wait.p99),
        strict=True,
    ):
        true_run = true_percentile(runs, fraction)
        assert run is not None and true_run / BUCKET_RATIO <= run <= true_run * BUCKET_RATIO
        # A wait is what was set plus the moments the dequeue took: never less.
        true_wait = true_percentile(waits, fraction)
        assert (
            wait is not None and true_wait / BUCKET_RATIO <= wait <= true_wait * BUCKET_RATIO * 1.05
        )
    assert lat.run.p99 is not None and lat.run.p99 <= max(runs)


async def test_purges_and_idle_entrypoints_have_no_percentiles(queries: ConsoleQueries) -> None:
    await queries.enqueue(["purged"] * 3)
    assert await queries.purge(["purged"]) == 3

    assert await operations.latency(queries, 60) == {}


async def test_status_json_gives_each_entrypoints_percentiles_or_null(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    await finish(queries, worker_queries, sync_conn, names, [1.2] * 10, [0.3] * 10)
    await queries.enqueue("waiting")

    code, out, _ = await asyncio.to_thread(cli, capsys, "status", "--json", *target(dsn, names))

    assert code == 0
    by_name = {e["entrypoint"]: e for e in json.loads(out)["entrypoints"]}
    fields = [f"{m}_p{p}_seconds" for m in ("wait", "run") for p in (50, 95, 99)]
    assert all(by_name["waiting"][f] is None for f in fields)
    done = by_name["lat"]
    assert all(isinstance(done[f], float) for f in fields)
    assert 0.3 / BUCKET_RATIO <= done["run_p50_seconds"] <= 0.3
    assert 1.2 / BUCKET_RATIO <= done["wait_p99_seconds"] <= 1.2 * BUCKET_RATIO
