"""Fleet benchmark: many `pgqtop --headless` processes, directly or through a PgBouncer of its
own (transaction pooling), draining jobs; per run the jobs/s, the most server connections the
benchmark database had at once, PostgreSQL's CPU per job, and every line the workers logged at
warning or above (there should be none).

    # 64 processes through PgBouncer (pool size 20), no LISTEN: 100,000 jobs
    python benchmarks/fleet.py --processes 64 --jobs 100000 --pooler --no-listen
    # 8 processes through PgBouncer, LISTEN straight to the server
    python benchmarks/fleet.py --processes 8 --jobs 50000 --pooler --listen-direct
    # the NOTIFY herd: jobs arrive in small statements while the fleet runs
    python benchmarks/fleet.py --processes 1 2 4 8 16 32 64 96 --jobs 20000 --pooler \
        --listen-direct --stream

`--stream` enqueues in statements of `--chunk` jobs while the workers run (each statement is one
NOTIFY that reaches every listening worker); without it the jobs are enqueued paused and the
clock starts at the resume. CPU is the user+system time of the server processes serving the
benchmark database, read from /proc (the server must run on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.producer import Queries
from pgqtop.model import NewJob

ENTRYPOINT = "noop"
TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) each server process has used so far."""
    used: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return used


async def backends(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    cur = await conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    return [int(row[0]) for row in await cur.fetchall()]


@contextlib.contextmanager
def maybe_own_server(use: bool, admin_dsn: str) -> Iterator[str]:
    """A throwaway PostgreSQL with room for 96 processes' connections, or the one given."""
    if not use:
        yield admin_dsn
        return
    from tests.reliability.cluster import throwaway_cluster

    with throwaway_cluster("max_connections = 400\nshared_buffers = 128MB\n") as server:
        yield server.dsn


@contextlib.contextmanager
def maybe_pooler(dsn: str, use: bool, pool_size: int) -> Iterator[str | None]:
    if not use:
        yield None
        return
    from tests.pooler import pgbouncer

    with pgbouncer(dsn, pool_size=pool_size) as bouncer:
        yield bouncer.dsn


async def run_fleet(
    dsn: str,
    work_dsn: str,
    processes: int,
    jobs: int,
    *,
    listen: str,
    stream: bool,
    chunk: int,
    poll: float,
    logs: Path,
    seats: int | None = None,
) -> dict[str, float]:
    common.fresh_tables(dsn)
    options = ["--batch-size", "100", "--concurrency", "200"]
    if seats is not None:
        options += ["--listen-seats", str(seats)]
    if listen == "none":
        options += ["--no-listen", "--poll-interval", str(poll)]
    elif listen == "direct":
        options += ["--listen-dsn", dsn]
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = ConsoleQueries(conn, common.NAMES)
        if not stream:
            await queries.pause([ENTRYPOINT], reason="benchmark warm-up")
            await Queries(conn, common.NAMES).enqueue_bulk(NewJob(ENTRYPOINT) for _ in range(jobs))
            await conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(common.NAMES.jobs)))
        workers = []
        files = []
        for n in range(processes):
            log = (logs / f"worker-{processes}-{n}.log").open("wb")
            files.append(log)
            workers.append(
                await asyncio.create_subprocess_exec(
                    *common.worker_command(work_dsn, *options),
                    cwd=common.ROOT,
                    env=common.worker_env(),
                    stdout=log,
                    stderr=log,
                )
            )
        peak = 0
        try:
            await wait_for_workers(conn, processes)
            # Every worker settles into its idle wait, and the server's counters catch up.
            await asyncio.sleep(COUNTERS_FLUSH)
            committed = await commits(conn)
            before = backend_cpu(await backends(conn))
            total = sql.SQL(
                "SELECT coalesce(sum(count), 0) FROM {} WHERE status = 'successful'"
            ).format(sql.Identifier(common.NAMES.statistics))
            started = time.perf_counter()
            producer: asyncio.Task[None] | None = None
            if stream:
                producer = asyncio.create_task(produce(dsn, jobs, chunk))
            else:
                await queries.resume([ENTRYPOINT])
            while True:
                pids = await backends(conn)
                peak = max(peak, len(pids))
                row = await (await conn.execute(total)).fetchone()
                if row and int(row[0]) >= jobs:
                    break
                if time.perf_counter() - started > 1200:
                    raise RuntimeError("drain did not finish in 1200 s")
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            if producer is not None:
                await producer
            after = backend_cpu(await backends(conn))
            cpu = sum(used - before.get(pid, 0.0) for pid, used in after.items())
            await asyncio.sleep(COUNTERS_FLUSH)
            committed = await commits(conn) - committed
        finally:
            for worker in workers:
                with contextlib.suppress(ProcessLookupError):
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                await asyncio.wait_for(worker.wait(), timeout=120)
            for log in files:
                log.close()
    return {
        "rate": jobs / elapsed,
        "peak": peak,
        "cpu_ms_per_job": 1000 * cpu / jobs,
        "commits_per_job": committed / jobs,
    }


async def commits(conn: psycopg.AsyncConnection[Any]) -> int:
    """Transactions committed in the benchmark database so far (every take, completion,
    heartbeat, look and enqueue), as the server's statistics have them."""
    cur = await conn.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


COUNTERS_FLUSH = 1.2
"""Seconds for the server's backends to report their counters (PostgreSQL sends them at most
once a second while a session is busy). The commits counted include the benchmark's own
progress reads and the fleet's heartbeats and idle looks, a few hundredths of a commit per
job at most."""


async def wait_for_workers(conn: psycopg.AsyncConnection[Any], expected: int) -> None:
    """Until `expected` workers have registered: a hundred Python processes starting on a
    small machine take a while."""
    deadline = time.monotonic() + 600
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(common.NAMES.workers))
    while time.monotonic() < deadline:
        row = await (await conn.execute(query)).fetchone()
        if row and int(row[0]) >= expected:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{expected} workers did not register within 600 s")


async def produce(dsn: str, jobs: int, chunk: int) -> None:
    """Enqueue `jobs` in statements of `chunk`, as fast as one connection goes."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = Queries(conn, common.NAMES)
        left = jobs
        while left > 0:
            n = min(chunk, left)
            await queries.enqueue_bulk(NewJob(ENTRYPOINT) for _ in range(n))
            left -= n


def problems(logs: Path, processes: int) -> list[str]:
    """Every line the workers of one run logged (they log warnings and worse only)."""
    lines: list[str] = []
    for path in sorted(logs.glob(f"worker-{processes}-*.log")):
        lines += [f"{path.name}: {line}" for line in path.read_text().splitlines() if line]
    return lines


async def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--processes", type=int, nargs="+", default=[8])
    p.add_argument("--jobs", type=int, default=50_000)
    p.add_argument("--pooler", action="store_true", help="work through a PgBouncer of its own")
    p.add_argument("--pool-size", type=int, default=20)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--no-listen", action="store_true", help="workers poll, no LISTEN")
    how.add_argument("--listen-direct", action="store_true", help="LISTEN straight to the server")
    p.add_argument("--poll-interval", type=float, default=1.0)
    p.add_argument(
        "--listen-seats",
        type=int,
        metavar="N",
        help="the workers' --listen-seats (default: theirs); 0 makes every worker listen",
    )
    p.add_argument("--stream", action="store_true", help="enqueue while the fleet runs")
    p.add_argument("--chunk", type=int, default=50, help="jobs per enqueue with --stream")
    p.add_argument(
        "--own-server",
        action="store_true",
        help="start a throwaway PostgreSQL (max_connections 400) instead of --admin-dsn",
    )
    args = p.parse_args()
    with maybe_own_server(args.own_server, args.admin_dsn) as admin_dsn:
        await sweep(args, common.bench_dsn(admin_dsn, args.database))


async def sweep(args: argparse.Namespace, dsn: str) -> None:
    listen = "none" if args.no_listen else "direct" if args.listen_direct else "same"
    logs = Path(tempfile.mkdtemp(prefix="pgqtop-fleet-"))
    print(
        f"{'pooler' if args.pooler else 'direct'}, listen {listen}, "
        f"listen seats {'default' if args.listen_seats is None else args.listen_seats}, "
        f"{'streamed' if args.stream else 'pre-enqueued'} jobs, logs in {logs}"
    )
    print(
        f"{'processes':>9} {'jobs':>8} {'jobs/s':>8} {'server conns':>12} "
        f"{'PG CPU ms/job':>13} {'commits/job':>11} {'log lines':>9}"
    )
    with maybe_pooler(dsn, args.pooler, args.pool_size) as pooled:
        for processes in args.processes:
            result = await run_fleet(
                dsn,
                pooled or dsn,
                processes,
                args.jobs,
                listen=listen,
                stream=args.stream,
                chunk=args.chunk,
                poll=args.poll_interval,
                logs=logs,
                seats=args.listen_seats,
            )
            logged = problems(logs, processes)
            print(
                f"{processes:>9} {args.jobs:>8} {result['rate']:>8.0f} {result['peak']:>12.0f} "
                f"{result['cpu_ms_per_job']:>13.3f} {result['commits_per_job']:>11.3f} "
                f"{len(logged):>9}",
                flush=True,
            )
            for line in logged[:10]:
                print(f"    {line}")


if __name__ == "__main__":
    asyncio.run(main())
