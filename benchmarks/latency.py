"""Steady-state latency: a producer enqueues at fixed rates while one `pgqtop --headless` worker
runs; the delay from enqueue (the INSERT's transaction start) to handler start, p50/p95/p99, and
whether the queue keeps up.

    python benchmarks/latency.py --rates 200 1000 3000 --seconds 10
    python benchmarks/latency.py --rates 200 --worker-options '--no-listen --poll-interval 1'
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from pgqtop.db.producer import Queries

TICK = 0.005


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def produce(queries: Queries, rate: int, seconds: float) -> int:
    """Enqueue at `rate` jobs/s for `seconds`, a small batch every tick; returns jobs sent."""
    sent = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(rate * elapsed) - sent
        if due > 0:
            await queries.enqueue(["latency"] * due, None, [0] * due)
            sent += due
        await asyncio.sleep(TICK)
    return sent


def read_and_remove(path: Path) -> list[str]:
    values = path.read_text().split()
    path.unlink()
    return values


async def measure(
    dsn: str, rate: int, seconds: float, warmup: float, options: Sequence[str] = ()
) -> dict[str, float]:
    common.fresh_tables(dsn)
    with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as handle:
        output = Path(handle.name)
    worker = await common.start_worker(
        dsn,
        *options,
        factory="benchmarks.latency_handler:register",
        env={"PGQTOP_LATENCY_FILE": str(output)},
    )
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = Queries(conn, common.NAMES)
        await common.wait_for_workers(conn, 1)
        await produce(queries, rate, warmup)
        sent = await produce(queries, rate, seconds)
        backlog_query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(common.NAMES.jobs))
        row = await (await conn.execute(backlog_query)).fetchone()
        backlog = int(row[0]) if row else 0
        deadline = time.perf_counter() + 30
        while backlog and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
            row = await (await conn.execute(backlog_query)).fetchone()
            backlog = int(row[0]) if row else 0
    worker.send_signal(signal.SIGTERM)
    await worker.wait()
    delays = [float(x) for x in await asyncio.to_thread(read_and_remove, output)]
    measured = delays[int(rate * warmup) :]
    return {
        "sent": sent,
        "p50": percentile(measured, 0.50) * 1000,
        "p95": percentile(measured, 0.95) * 1000,
        "p99": percentile(measured, 0.99) * 1000,
        "backlog_at_end": backlog,
    }


async def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--rates", type=int, nargs="+", default=[200, 1000, 3000])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument(
        "--worker-options",
        default="",
        help="more flags for the worker, e.g. '--no-listen --poll-interval 1'",
    )
    args = p.parse_args()
    options = shlex.split(args.worker_options)
    dsn = common.bench_dsn(args.admin_dsn, args.database)
    rows = []
    for rate in args.rates:
        runs = [
            await measure(dsn, rate, args.seconds, args.warmup, options) for _ in range(args.runs)
        ]
        runs.sort(key=lambda r: r["p50"])
        rows.append((rate, runs[len(runs) // 2]))
    print(
        f"enqueue -> handler start latency, {args.seconds:.0f} s per rate,"
        f" median run of {args.runs}"
    )
    print(f"{'rate/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'keeps up':>9}")
    for rate, r in rows:
        backlog = r["backlog_at_end"]
        keeps_up = "yes" if backlog <= rate * 0.05 else f"no ({backlog:.0f})"
        print(f"{rate:>7} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} {keeps_up:>9}")


if __name__ == "__main__":
    asyncio.run(main())
