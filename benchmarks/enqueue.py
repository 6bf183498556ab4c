"""Enqueue benchmark: one job per call, batches of 100 and 1,000 per statement, and bulk COPY;
pgqtop against PgQueuer on the same database, median of several runs.

    python benchmarks/enqueue.py --jobs 20000 --runs 3
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import asyncpg
import psycopg
from pgqueuer import AsyncpgDriver
from pgqueuer import Queries as PeerQueries

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import pgqueuer_peer

from pgqtop.db.producer import Queries
from pgqtop.model import NewJob

PAYLOAD = b'{"user": 42}'


async def pgqtop_rate(dsn: str, count: int, chunk: int | None) -> float:
    common.fresh_tables(dsn)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = Queries(conn, common.NAMES)
        started = time.perf_counter()
        if chunk is None:
            await queries.enqueue_bulk(NewJob("noop", PAYLOAD) for _ in range(count))
        elif chunk == 1:
            for _ in range(count):
                await queries.enqueue("noop", PAYLOAD)
        else:
            for offset in range(0, count, chunk):
                size = min(chunk, count - offset)
                await queries.enqueue(["noop"] * size, [PAYLOAD] * size, [0] * size)
        return count / (time.perf_counter() - started)


async def pgqueuer_rate(dsn: str, count: int, chunk: int) -> float:
    await pgqueuer_peer.vacuum(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        queries = PeerQueries(AsyncpgDriver(conn))
        started = time.perf_counter()
        if chunk == 1:
            for _ in range(count):
                await queries.enqueue("noop", PAYLOAD)
        else:
            for offset in range(0, count, chunk):
                size = min(chunk, count - offset)
                await queries.enqueue(["noop"] * size, [PAYLOAD] * size, [0] * size)
        return count / (time.perf_counter() - started)
    finally:
        await conn.close()


async def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--jobs", type=int, default=20_000)
    p.add_argument("--single-jobs", type=int, default=2_000, help="jobs for the one-per-call case")
    args = p.parse_args()
    dsn = common.bench_dsn(args.admin_dsn, args.database)
    await pgqueuer_peer.reset(dsn)
    modes: list[tuple[str, int | None]] = [("1 per call", 1), ("100", 100), ("1,000", 1000)]
    rows: list[tuple[str, float, float | None]] = []
    for label, chunk in [*modes, ("COPY", None)]:
        ours: list[float] = []
        theirs: list[float] = []
        count = args.single_jobs if chunk == 1 else args.jobs
        for _ in range(args.runs):
            ours.append(await pgqtop_rate(dsn, count, chunk))
            if chunk is not None:
                theirs.append(await pgqueuer_rate(dsn, count, chunk))
        rows.append((label, common.median(ours), common.median(theirs) if theirs else None))
    print(f"enqueue, median of {args.runs} runs (jobs/s)")
    print(f"{'per statement':<14} {'pgqtop':>10} {'PgQueuer':>10} {'ratio':>7}")
    for label, ours_rate, theirs_rate in rows:
        peer = f"{theirs_rate:>10.0f}" if theirs_rate else f"{'-':>10}"
        ratio = f"{ours_rate / theirs_rate:>6.2f}x" if theirs_rate else f"{'-':>7}"
        print(f"{label:<14} {ours_rate:>10.0f} {peer} {ratio}")


if __name__ == "__main__":
    asyncio.run(main())
