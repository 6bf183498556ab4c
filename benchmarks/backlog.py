"""Long run with a backlog: keep ~1,000,000 jobs queued while headless workers drain for ten
minutes; throughput per minute (does it decay as dead tuples pile up?), and the size of the
table and its indexes at the end.

    python benchmarks/backlog.py --rows 1000000 --minutes 10 --workers 2
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from pgqtop.db.producer import Queries
from pgqtop.model import NewJob

REFILL = 20_000


async def count(conn: psycopg.AsyncConnection[Any], query: sql.Composed) -> int:
    row = await (await conn.execute(query)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def keep_backlog(dsn: str, rows: int, stop: asyncio.Event) -> None:
    """Top the queue up whenever it falls 2% below the target."""
    names = common.NAMES
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = Queries(conn, names)
        queued = sql.SQL("SELECT count(*) FROM {} WHERE status = 'queued'").format(
            sql.Identifier(names.jobs)
        )
        while not stop.is_set():
            if await count(conn, queued) < rows * 0.98:
                await queries.enqueue_bulk(NewJob("noop") for _ in range(REFILL))
            else:
                await asyncio.sleep(0.5)


async def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=100)
    args = p.parse_args()
    dsn = common.bench_dsn(args.admin_dsn, args.database)
    names = common.NAMES
    common.fresh_tables(dsn)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        await Queries(conn, names).enqueue_bulk(NewJob("noop") for _ in range(args.rows))
        await conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(names.jobs)))
        print(f"enqueued {args.rows} jobs in {time.perf_counter() - started:.1f} s")
        done_query = sql.SQL("SELECT coalesce(sum(count), 0) FROM {}").format(
            sql.Identifier(names.statistics)
        )
        workers = [
            await common.start_worker(dsn, "--batch-size", str(args.batch_size))
            for _ in range(args.workers)
        ]
        stop = asyncio.Event()
        refill = asyncio.create_task(keep_backlog(dsn, args.rows, stop))
        per_minute: list[int] = []
        last = await count(conn, done_query)
        for _ in range(int(args.minutes)):
            await asyncio.sleep(60)
            now = await count(conn, done_query)
            per_minute.append(now - last)
            last = now
            print(f"minute {len(per_minute):>2}: {per_minute[-1] / 60:8.0f} jobs/s", flush=True)
        stop.set()
        await refill
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            await worker.wait()
        sizes = await (
            await conn.execute(
                "SELECT pg_size_pretty(pg_relation_size(c.oid)),"
                " pg_size_pretty(pg_indexes_size(c.oid)), s.n_live_tup, s.n_dead_tup,"
                " s.autovacuum_count, s.vacuum_count FROM pg_class c JOIN pg_stat_user_tables s"
                " ON s.relid = c.oid WHERE c.oid = to_regclass(%s)",
                (sql.Identifier(names.jobs).as_string(conn),),
            )
        ).fetchone()
    if per_minute:
        first, final = per_minute[0], per_minute[-1]
        print(
            f"\nfirst minute {first / 60:.0f} jobs/s, last minute {final / 60:.0f} jobs/s:"
            f" last/first = {final / first:.2f}"
            if first
            else "no jobs done"
        )
    if sizes:
        print(
            f"jobs table {sizes[0]}, indexes {sizes[1]}, live rows {sizes[2]},"
            f" dead rows {sizes[3]}, autovacuum runs {sizes[4]}, vacuums by workers {sizes[5]}"
        )


if __name__ == "__main__":
    asyncio.run(main())
