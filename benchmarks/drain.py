"""Drain benchmark: N no-op jobs pre-enqueued, time until the queue is empty and statistics
hold N. pgqtop's `--headless` workers against PgQueuer (from PyPI, through its public API) on the
same database, alternating runs, median of several; then the SQL limit for the batch size.
`--compare-keep-finished` also runs every pgqtop configuration with `--keep-finished 0` (no
finished-jobs rows) in the same rounds, and prints what keeping them costs; `--claim-lock` also
runs it with `--claim lock` (batches held by row locks).

    python benchmarks/drain.py --jobs 20000 --runs 3
    python benchmarks/drain.py --jobs 20000 --runs 3 --no-peer --compare-keep-finished
    python benchmarks/drain.py --jobs 30000 --runs 3 --claim-lock
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.producer import Queries
from pgqtop.model import NewJob

ENTRYPOINT = "noop"


async def enqueue_pgqtop(dsn: str, count: int) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await Queries(conn, common.NAMES).enqueue_bulk(NewJob(ENTRYPOINT) for _ in range(count))
        await conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(common.NAMES.jobs)))


KEEPING = "pgqtop"
NOT_KEEPING = "pgqtop keep=0"
"""The system's name in the results when workers keep no finished jobs."""


LOCKING = "pgqtop lock"
"""The system's name in the results when workers take batches by row locks (--claim lock)."""

VARIANT_OPTIONS = {KEEPING: [], NOT_KEEPING: ["--keep-finished", "0"], LOCKING: ["--claim", "lock"]}


async def drain_pgqtop(
    dsn: str, count: int, batch: int, processes: int, variant: str = KEEPING
) -> float:
    common.fresh_tables(dsn)
    await enqueue_pgqtop(dsn, count)
    options = ["--batch-size", str(batch), "--concurrency", str(max(2 * batch, 200))]
    options += VARIANT_OPTIONS[variant]
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = ConsoleQueries(conn, common.NAMES)
        await queries.pause([ENTRYPOINT], reason="benchmark warm-up")
        workers = [await common.start_worker(dsn, *options) for _ in range(processes)]
        try:
            await common.wait_for_workers(conn, processes)
            total = sql.SQL(
                "SELECT coalesce(sum(count), 0) FROM {} WHERE status = 'successful'"
            ).format(sql.Identifier(common.NAMES.statistics))
            started = time.perf_counter()
            await queries.resume([ENTRYPOINT])
            while True:
                row = await (await conn.execute(total)).fetchone()
                if row and int(row[0]) >= count:
                    break
                if time.perf_counter() - started > 600:
                    raise RuntimeError("drain did not finish in 600 s")
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                await asyncio.wait_for(worker.wait(), timeout=60)
    return count / elapsed


async def drain_pgqueuer(dsn: str, count: int, batch: int, instances: int) -> float:
    import pgqueuer_peer

    await pgqueuer_peer.vacuum(dsn)
    await pgqueuer_peer.enqueue(dsn, count)
    await pgqueuer_peer.analyze(dsn)
    return await pgqueuer_peer.drain(dsn, count, batch, instances)


async def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--jobs", type=int, default=20_000)
    p.add_argument("--pgqtop-batch", type=int, nargs="+", default=[100, 500])
    p.add_argument("--pgqtop-processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--peer-batch", type=int, nargs="+", default=[10, 100])
    p.add_argument("--peer-instances", type=int, nargs="+", default=[1, 4])
    p.add_argument("--no-peer", action="store_true", help="skip PgQueuer")
    p.add_argument("--no-limit", action="store_true", help="skip the pgbench SQL limit")
    p.add_argument(
        "--compare-keep-finished",
        action="store_true",
        help="also run pgqtop with --keep-finished 0, alternating, and print the difference",
    )
    p.add_argument(
        "--claim-lock",
        action="store_true",
        help="also run pgqtop with --claim lock (batches held by row locks), alternating",
    )
    args = p.parse_args()
    dsn = common.bench_dsn(args.admin_dsn, args.database)
    results: dict[tuple[str, int, int], list[float]] = {}
    if not args.no_peer:
        import pgqueuer_peer

        await pgqueuer_peer.reset(dsn)
    for run in range(args.runs):
        for batch in args.pgqtop_batch:
            for processes in args.pgqtop_processes:
                modes = [KEEPING]
                if args.compare_keep_finished:
                    modes.append(NOT_KEEPING)
                if args.claim_lock:
                    modes.append(LOCKING)
                # Alternate which mode goes first, so neither always runs on a warmer server.
                for system in modes if run % 2 == 0 else modes[::-1]:
                    rate = await drain_pgqtop(dsn, args.jobs, batch, processes, system)
                    results.setdefault((system, batch, processes), []).append(rate)
                    print(
                        f"run {run + 1}: {system:<13} batch={batch:<4} processes={processes}"
                        f"  {rate:8.0f}"
                    )
        if args.no_peer:
            continue
        for batch in args.peer_batch:
            for instances in args.peer_instances:
                rate = await drain_pgqueuer(dsn, args.jobs, batch, instances)
                results.setdefault(("pgqueuer", batch, instances), []).append(rate)
                print(
                    f"run {run + 1}: PgQueuer batch={batch:<4} instances={instances}  {rate:8.0f}"
                )
    print()
    print(f"drain of {args.jobs} no-op jobs, median of {args.runs} runs (jobs/s)")
    print(f"{'system':<14} {'batch':>6} {'workers':>8} {'jobs/s':>10}")
    best: dict[str, tuple[float, int]] = {}
    for (system, batch, workers), rates in sorted(results.items()):
        rate = common.median(rates)
        print(f"{system:<14} {batch:>6} {workers:>8} {rate:>10.0f}")
        if rate > best.get(system, (0.0, 0))[0]:
            best[system] = (rate, batch)
    if args.compare_keep_finished:
        print("\nkeeping finished jobs (the default) against --keep-finished 0:")
        for batch in args.pgqtop_batch:
            for processes in args.pgqtop_processes:
                kept = common.median(results[(KEEPING, batch, processes)])
                bare = common.median(results[(NOT_KEEPING, batch, processes)])
                print(
                    f"batch {batch}, {processes} process(es): {kept:.0f} vs {bare:.0f} jobs/s,"
                    f" {(1 - kept / bare):+.1%} slower"
                )
    if "pgqueuer" in best:
        peer = best["pgqueuer"][0]
        print()
        for system in (KEEPING, LOCKING):
            if system in best:
                print(
                    f"best {system} {best[system][0]:.0f}/s vs best PgQueuer {peer:.0f}/s:"
                    f" ratio {best[system][0] / peer:.2f}x"
                )
        default = results.get((KEEPING, 100, 1))
        if default:
            rate = common.median(default)
            print(
                f"one default process (batch 100) {rate:.0f}/s vs best PgQueuer {peer:.0f}/s:"
                f" ratio {rate / peer:.2f}x"
            )
    if not args.no_limit:
        # Every batch size pgqtop ran at, so each figure is read against its own limit.
        for batch in args.pgqtop_batch:
            limit = common.sql_limit(batch, database=args.database)
            print(f"\nSQL limit (pgbench, same server) at batch {batch}:")
            print(limit)
            for system, design in ((KEEPING, "pick+complete"), (LOCKING, "lock-claim")):
                for processes in args.pgqtop_processes:
                    runs = results.get((system, batch, processes))
                    if not runs:
                        continue
                    rate = common.median(runs)
                    shares = ", ".join(
                        f"{rate / jobs:.0%} of {clients} client(s)"
                        for clients, jobs in common.limit_rates(limit, batch, design).items()
                    )
                    print(f"{system} batch {batch}, {processes} process(es): {shares} ({design})")


if __name__ == "__main__":
    asyncio.run(main())
