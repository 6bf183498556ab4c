"""Console cost: the real console (headless Textual driver) against 1,000,000 queued rows while
its embedded worker runs 2,000 jobs/s fed by a producer. Measures the console's share of
PostgreSQL time (pg_stat_statements on a throwaway server that preloads it), its RSS, time to
first paint, and key-press-to-repaint latency with the engine busy in the same process.

    python benchmarks/console_cost.py --rows 1000000 --rate 2000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from textual import events

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pgqtop.config import Settings
from pgqtop.db import schema
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.producer import Queries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job, NewJob
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.header import StatusHeader
from tests.reliability.cluster import throwaway_cluster

# Statements only the console runs; the worker's own statements are not the console's cost.
CONSOLE_MARKERS = (
    "GROUP BY entrypoint, status ORDER BY entrypoint, status",  # queue counts
    "date_bin(",  # throughput series
    "sum(count)::bigint FROM",  # recent outcomes
    "heartbeat_age",  # workers
    "ORDER BY id DESC LIMIT",  # recent failures
    "WHERE final AND failed_at",  # failures since
    "FROM {control} WHERE paused_until IS NULL OR",  # pauses (the worker reads them rarely)
    "current_setting('server_version')",
)


def console_statement(query: str, names: Any) -> bool:
    control = f'"{names.control}"'
    return any(marker.replace("{control}", control) in query for marker in CONSOLE_MARKERS)


async def produce(settings: Settings, rate: int, stop: asyncio.Event) -> None:
    async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
        queries = Queries(conn, settings.names)
        started = time.perf_counter()
        sent = 0
        while not stop.is_set():
            due = int(rate * (time.perf_counter() - started)) - sent
            if due > 0:
                await queries.enqueue(["flow"] * due)
                sent += due
            await asyncio.sleep(0.01)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace, dsn: str) -> None:
    settings = Settings.create(dsn=dsn, prefix="cost")
    settings.engine.batch_size = 200
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        schema.install(conn, settings.names)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
        queries = ConsoleQueries(aconn, settings.names)
        started = time.perf_counter()
        await queries.enqueue_bulk(NewJob("backlog") for _ in range(args.rows))
        await queries.pause(["backlog"], reason="held for the console benchmark")
        await aconn.execute("VACUUM ANALYZE")
        print(f"seeded {args.rows} queued jobs in {time.perf_counter() - started:.0f} s")

    manager = QueueManager(settings)

    @manager.entrypoint("flow")
    async def flow(job: Job) -> None:
        return None

    app = PgqtopApp(settings, manager=manager, remember_state=False)
    stop = asyncio.Event()
    producer = asyncio.create_task(produce(settings, args.rate, stop))
    launched = time.perf_counter()
    async with app.run_test(size=(160, 48)) as pilot:
        while app.state.queues.get("backlog") is None or app.state.queues["backlog"].due == 0:
            await pilot.pause(0.01)
        first_paint = time.perf_counter() - launched
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
        window_start = time.perf_counter()
        latencies: list[float] = []
        rss_start = rss_mib()
        header = app.query_one(StatusHeader)
        while time.perf_counter() - window_start < args.seconds:
            for frozen in (True, False):  # space freezes, space again goes live
                await asyncio.sleep(0.25)
                # Post the key the way the terminal driver does, then watch the header: Pilot's
                # own waiting wants an idle process, which a busy engine never gives it.
                pressed = time.perf_counter()
                app.post_message(events.Key("space", " "))
                while ("FROZEN" in str(header.render())) != frozen:  # noqa: ASYNC110 - no event to await
                    await asyncio.sleep(0.001)
                latencies.append(time.perf_counter() - pressed)
        wall = time.perf_counter() - window_start
        processed = manager.counters.succeeded
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT query, calls, total_exec_time FROM pg_stat_statements"
            ).fetchall()
        rss_end = rss_mib()
        stop.set()
        await producer
        await pilot.press("q")
    console_ms = sum(ms for query, _, ms in rows if console_statement(query, settings.names))
    console_calls = sum(
        calls for query, calls, _ in rows if console_statement(query, settings.names)
    )
    all_ms = sum(ms for _, _, ms in rows)
    latencies.sort()
    print(f"\nconsole against {args.rows:,} queued rows, embedded worker at {args.rate}/s target")
    print(f"  worker processed           {processed / wall:8.0f} jobs/s")
    print(
        f"  console share of PG time   {console_ms / 1000 / wall * 100:8.2f} % of one core"
        f" ({console_calls} statements; all statements {all_ms / 1000 / wall * 100:.1f} %)"
    )
    print(f"  RSS                        {rss_end:8.0f} MiB (at start of window {rss_start:.0f})")
    print(f"  time to first paint        {first_paint * 1000:8.0f} ms")
    print(
        f"  key press to repaint       p50 {statistics.median(latencies) * 1000:.0f} ms,"
        f" p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms,"
        f" max {latencies[-1] * 1000:.0f} ms over {len(latencies)} presses"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    preload = "shared_preload_libraries = 'pg_stat_statements'\n"
    with throwaway_cluster(extra_conf=preload) as cluster:
        asyncio.run(run(args, cluster.dsn))


if __name__ == "__main__":
    main()
