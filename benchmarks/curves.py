"""Cost curves: how the engine's drain rate and the console's polls grow with what is in the
tables. Each mode varies one thing and prints a table (and a text plot with --plot):

    backlog      queued jobs (COPY enqueue): console poll cost, then one default headless
                 process's drain rate, at each size
    payload      drain rate against payload size
    entrypoints  drain rate against the number of entrypoints with traffic
    failures     console poll cost against rows in the failures table
    workers      console poll cost against rows in the workers registry
    sizes        statistics, history, failures and finished-job tables after a simulated day
                 at a steady rate, before and after the project's own pruning
    dequeue      EXPLAIN (ANALYZE, BUFFERS, WAL) of the engine's dequeue against a backlog
                 spread over --entrypoints, before and after a window of draining (where a
                 drain curve bends, this says why)

    python benchmarks/curves.py backlog --sizes 10000 100000 1000000 10000000
    python benchmarks/curves.py payload --sizes 100 10000 1000000
    python benchmarks/curves.py entrypoints --sizes 1 10 100 1000
    python benchmarks/curves.py failures --sizes 1000 10000 100000 1000000
    python benchmarks/curves.py workers --sizes 1 10 100
    python benchmarks/curves.py sizes --rate 1000 --hours 24
    python benchmarks/curves.py dequeue --sizes 1000000 10000000 --entrypoints 1

Poll cost is wall time per call on the console's own ConsoleQueries (median of --calls) and
server time with buffers from EXPLAIN ANALYZE of the same statements (auto_explain, reported to
the client); --plans DIR writes each plan out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import many_entrypoints

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.producer import Queries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import ALL_ENTRYPOINTS, NewJob

NAMES = common.NAMES
DAY_TABLES = (
    NAMES.statistics,
    NAMES.history,
    NAMES.history_samples,
    NAMES.failures,
    NAMES.finished,
)
Poll = Callable[[ConsoleQueries], Awaitable[object]]

# What the console's watcher runs (tui/watcher.py): the reconciliation, the 1.5 s statistics
# poll (chart at its default 1 m window and at 24 h), and the 4 s slow poll.
POLLS: tuple[tuple[str, Poll], ...] = (
    ("queue_counts", lambda q: q.queue_counts()),
    ("recent_outcomes", lambda q: q.recent_outcomes(60.0)),
    ("series 1m", lambda q: q.statistics_series(60, 1)),
    ("series 24h", lambda q: q.statistics_series(86400, 900)),
    ("workers", lambda q: q.workers()),
    ("recent_failures", lambda q: q.recent_failures(100)),
    ("failures_since", lambda q: q.failures_since(3600.0)),
    ("paused", lambda q: q.paused()),
    ("schedules", lambda q: q.schedules()),
)
DURATION = re.compile(r"duration: ([0-9.]+) ms")
BUFFERS = re.compile(r"Buffers: shared( hit=(\d+))?( read=(\d+))?")


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def q(text: str, *tables: str) -> sql.Composed:
    """A statement of constant text with the benchmark's table names filled in."""
    return sql.SQL(text).format(*(ident(t) for t in tables))


# --- measuring ----------------------------------------------------------------------------------


async def poll_costs(
    dsn: str, calls: int, plans: Path | None, tag: str
) -> dict[str, tuple[float, float, int]]:
    """Per console poll: median wall ms, EXPLAIN ANALYZE server ms, shared buffers touched."""
    found: dict[str, tuple[float, float, int]] = {}
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = ConsoleQueries(conn, NAMES)
        for name, poll in POLLS:
            await poll(queries)  # warm: plans cached, pages in memory
            walls = []
            for _ in range(calls):
                started = time.perf_counter()
                await poll(queries)
                walls.append((time.perf_counter() - started) * 1000)
            found[name] = (common.median(walls), 0.0, 0)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_buffers = on",
            "SET auto_explain.log_timing = on",
            "SET auto_explain.log_level = notice",
            "SET client_min_messages = notice",
        ):
            await conn.execute(setting)
        queries = ConsoleQueries(conn, NAMES)
        for name, poll in POLLS:
            notices.clear()
            await poll(queries)
            text = "\n".join(notices)
            server = sum(float(m) for m in DURATION.findall(text))
            first = BUFFERS.search(text)
            touched = sum(int(first[i] or 0) for i in (2, 4)) if first else 0
            found[name] = (found[name][0], server, touched)
            if plans is not None:
                write_plan(plans / f"{tag}-{name.replace(' ', '_')}.txt", text)
    return found


def write_plan(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def print_polls(label: str, rows: list[tuple[int, dict[str, tuple[float, float, int]]]]) -> None:
    print(f"\nconsole polls against {label}: wall ms (median) / server ms (EXPLAIN) / buffers")
    print(f"{'poll':<16}" + "".join(f" {size:>26,}" for size, _ in rows))
    for name, _ in POLLS:
        cells = "".join(
            f" {f'{c[name][0]:.2f} / {c[name][1]:.2f} / {c[name][2]}':>26}" for _, c in rows
        )
        print(f"{name:<16}{cells}")
    totals = "".join(f" {sum(v[0] for v in c.values()):>26.2f}" for _, c in rows)
    print(f"{'all (wall ms)':<16}{totals}")


async def successful(conn: psycopg.AsyncConnection[Any]) -> int:
    row = await (
        await conn.execute(
            q(
                "SELECT coalesce(sum(count), 0) FROM {} WHERE status = 'successful'",
                NAMES.statistics,
            )
        )
    ).fetchone()
    return int(row[0]) if row else 0


async def drain_rate(
    dsn: str,
    total: int,
    window: float,
    factory: str = "benchmarks.noop:register",
    env: dict[str, str] | None = None,
) -> float:
    """jobs/s of one default `pgqtop --headless` process over `window` seconds of draining
    (or until the `total` queued jobs are done), started paused so start-up is not counted."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = ConsoleQueries(conn, NAMES)
        await queries.pause([ALL_ENTRYPOINTS], reason="benchmark warm-up")
        worker = await common.start_worker(dsn, factory=factory, env=env)
        try:
            await common.wait_for_workers(conn, 1)
            await queries.resume_all()
            resumed = time.perf_counter()
            await asyncio.sleep(1.0)  # first batches, connection warm
            done0, started = await successful(conn), time.perf_counter()
            if done0 >= total / 2:  # a small queue: measured from the resume instead
                done0, started = 0, resumed
            done = done0
            while time.perf_counter() - started < window and done < total:
                await asyncio.sleep(0.05)
                done = await successful(conn)
            elapsed = time.perf_counter() - started
        finally:
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), timeout=60)
    return (done - done0) / elapsed


async def enqueue(dsn: str, jobs: Sequence[NewJob] | Any) -> float:
    """COPY the jobs in through the producer's bulk path, VACUUM ANALYZE; seconds taken."""
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await Queries(conn, NAMES).enqueue_bulk(jobs)
        await conn.execute(q("VACUUM ANALYZE {}", NAMES.jobs))
    return time.perf_counter() - started


def plot(
    title: str, xs: Sequence[float], series: Mapping[str, Sequence[float]], xlabel: str
) -> None:
    """A text plot (log x) of the curve, to paste into the docs."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(72, 18)
    plt.theme("clear")
    plt.xscale("log")
    for label, ys in series.items():
        plt.plot(list(xs), list(ys), label=label, marker="dot")
    plt.title(title)
    plt.xlabel(xlabel)
    print(re.sub(r"\x1b\[[0-9;]*m", "", plt.build()))  # plain text for the docs


# --- modes --------------------------------------------------------------------------------------


async def backlog(dsn: str, args: argparse.Namespace) -> None:
    rows: list[tuple[int, dict[str, tuple[float, float, int]]]] = []
    rates: list[float] = []
    no_jit: list[float] = []
    for size in args.sizes:
        common.fresh_tables(dsn)
        took = await enqueue(dsn, (NewJob("noop") for _ in range(size)))
        print(f"backlog {size:,}: enqueued by COPY in {took:.1f} s ({size / took:,.0f}/s)")
        rows.append((size, await poll_costs(dsn, args.calls, args.plans, f"backlog-{size}")))
        rate = await drain_rate(dsn, size, args.window)
        rates.append(rate)
        print(f"backlog {size:,}: one default headless process drains {rate:,.0f} jobs/s")
        if args.compare_jit_off:
            # The same backlog, less what was just drained, with the server's JIT off for the
            # worker's connections only (libpq's PGOPTIONS): the planner's estimate of the
            # dequeue grows with the table and crosses jit_above_cost near 3 million rows.
            off = await drain_rate(dsn, size, args.window, env={"PGOPTIONS": "-c jit=off"})
            no_jit.append(off)
            print(f"backlog {size:,}: the same with jit=off for the worker: {off:,.0f} jobs/s")
    print("\ndrain of one default headless process against the backlog")
    print(f"{'queued':>12} {'jobs/s':>10}" + (f" {'jit=off':>10}" if no_jit else ""))
    for i, (size, rate) in enumerate(zip(args.sizes, rates, strict=True)):
        print(f"{size:>12,} {rate:>10,.0f}" + (f" {no_jit[i]:>10,.0f}" if no_jit else ""))
    print_polls("queued jobs", rows)
    if args.plot:
        plot("drain jobs/s against queued jobs", args.sizes, {"jobs/s": rates}, "queued")
        walls = {n: [c[n][0] for _, c in rows] for n in ("queue_counts", "recent_outcomes")}
        plot("console poll wall ms against queued jobs", args.sizes, walls, "queued")


async def payload(dsn: str, args: argparse.Namespace) -> None:
    rates = []
    for size in args.sizes:
        count = args.jobs if size < 100_000 else max(args.jobs // 50, 100)
        common.fresh_tables(dsn)
        body = b"x" * size
        await enqueue(dsn, (NewJob("noop", body) for _ in range(count)))
        rate = await drain_rate(dsn, count, args.window)
        rates.append(rate)
        print(
            f"payload {size:,} B x {count:,} jobs: {rate:,.0f} jobs/s,"
            f" {rate * size / 2**20:,.1f} MiB/s"
        )
    print("\ndrain of one default headless process against payload size")
    print(f"{'payload B':>12} {'jobs/s':>10} {'MiB/s':>8}")
    for size, rate in zip(args.sizes, rates, strict=True):
        print(f"{size:>12,} {rate:>10,.0f} {rate * size / 2**20:>8,.1f}")
    if args.plot:
        plot("drain jobs/s against payload bytes", args.sizes, {"jobs/s": rates}, "payload B")


async def entrypoints(dsn: str, args: argparse.Namespace) -> None:
    rates = []
    for count in args.sizes:
        names = many_entrypoints.names(count)
        common.fresh_tables(dsn)
        await enqueue(dsn, (NewJob(names[i % count]) for i in range(args.jobs)))
        rate = await drain_rate(
            dsn,
            args.jobs,
            args.window,
            factory="benchmarks.many_entrypoints:register",
            env={"PGQTOP_BENCH_ENTRYPOINTS": str(count)},
        )
        rates.append(rate)
        print(f"{count:,} entrypoints with traffic: {rate:,.0f} jobs/s")
    print("\ndrain of one default headless process against entrypoints with traffic")
    print(f"{'entrypoints':>12} {'jobs/s':>10}")
    for count, rate in zip(args.sizes, rates, strict=True):
        print(f"{count:>12,} {rate:>10,.0f}")
    if args.plot:
        plot("drain jobs/s against entrypoints", args.sizes, {"jobs/s": rates}, "entrypoints")


FILL_FAILURES = (
    "INSERT INTO {} (job_id, entrypoint, attempts, error, traceback, job_created, failed_at)"
    " SELECT n, 'noop_' || n %% 6, 3, 'ConnectionError: host 10.0.' || n %% 250 || ' refused',"
    " repeat('  File \"handler.py\", line 1, in run' || chr(10), 12), now() - interval '1 day',"
    " now() - (n %% 86400) * interval '1 second'"
    " FROM generate_series(1, %s) n"
)


async def failures(dsn: str, args: argparse.Namespace) -> None:
    rows = []
    for size in args.sizes:
        common.fresh_tables(dsn)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute(q(FILL_FAILURES, NAMES.failures), (size,))
            await conn.execute(q("VACUUM ANALYZE {}", NAMES.failures))
        rows.append((size, await poll_costs(dsn, args.calls, args.plans, f"failures-{size}")))
        print(f"failures {size:,}: measured")
    print_polls("failures rows (spread over a day)", rows)
    if args.plot:
        walls = {n: [c[n][0] for _, c in rows] for n in ("recent_failures", "failures_since")}
        plot("console poll wall ms against failures rows", args.sizes, walls, "failures")


async def workers(dsn: str, args: argparse.Namespace) -> None:
    rows = []
    for size in args.sizes:
        common.fresh_tables(dsn)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute(
                q(
                    "INSERT INTO {} (id, host, pid, entrypoints, concurrency, processed)"
                    " SELECT gen_random_uuid(), 'host-' || n %% 10, 1000 + n,"
                    " ARRAY['noop_1', 'noop_2'], 200, n * 1000 FROM generate_series(1, %s) n",
                    NAMES.workers,
                ),
                (size,),
            )
        rows.append((size, await poll_costs(dsn, args.calls, args.plans, f"workers-{size}")))
    print_polls("worker rows", rows)


async def table_sizes(conn: psycopg.AsyncConnection[Any]) -> dict[str, tuple[int, int]]:
    """Bytes on disk (with indexes and TOAST) and rows, per table the day leaves behind."""
    found = {}
    for table in DAY_TABLES:
        row = await (
            await conn.execute(
                q("SELECT pg_total_relation_size(%s::regclass), (SELECT count(*) FROM {})", table),
                (f'"{table}"',),
            )
        ).fetchone()
        assert row is not None
        found[table] = (int(row[0]), int(row[1]))
    return found


async def sizes(dsn: str, args: argparse.Namespace) -> None:
    """A day at `rate` jobs/s on one entrypoint, as the engine writes it: a statistics row per
    second (with histograms), a queue-history sample every 10 s, failures at `failure_share`,
    and the finished jobs of the last `finished_hours` hours (the rest would have been pruned
    as they went: the prune runs continuously in every worker)."""
    seconds = int(args.hours * 3600)
    finished = int(args.rate * args.finished_hours * 3600)
    failed = int(args.rate * seconds * args.failure_share)
    common.fresh_tables(dsn)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for table in (NAMES.history, NAMES.history_samples):
            await conn.execute(q("TRUNCATE {}", table))
        started = time.perf_counter()
        await conn.execute(
            q(
                "INSERT INTO {} (created, entrypoint, status, priority, count, queue_seconds_sum,"
                " queue_seconds_max, run_seconds_sum, run_seconds_max, wait_histogram,"
                " run_histogram) SELECT date_trunc('second', now()) - s * interval '1 second',"
                " 'noop', 'successful', 0, %s, 0.5, 0.01, 1.0, 0.01,"
                " '{{0,0,3,40,200,400,300,50,7}}', '{{0,10,300,500,150,40}}'"
                " FROM generate_series(0, %s - 1) s",
                NAMES.statistics,
            ),
            (args.rate, seconds),
        )
        slots = seconds // 10 + 360  # an hour more than the history keeps
        await conn.execute(
            q(
                "INSERT INTO {} (slot, sampled_at, took_seconds) SELECT"
                " date_bin('10 seconds', now(), timestamptz '2000-01-01') - s * interval '10 s',"
                " now() - s * interval '10 s', 0.001 FROM generate_series(1, %s) s",
                NAMES.history_samples,
            ),
            (slots,),
        )
        await conn.execute(
            q(
                "INSERT INTO {} (slot, entrypoint, due, picked, oldest_due_seconds) SELECT slot,"
                " 'noop', 20, 50, 0.02 FROM {}",
                NAMES.history,
                NAMES.history_samples,
            )
        )
        await conn.execute(q(FILL_FAILURES, NAMES.failures), (failed,))
        # The jobs' ids run up to the sequence's last value, as the prune by count reads it.
        await conn.execute(
            q(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
            ),
            (f'"{NAMES.jobs}"', args.rate * seconds),
        )
        await conn.execute(
            q(
                "INSERT INTO {} (job_id, entrypoint, priority, status, attempts, created,"
                " execute_after, picked, finished, run_seconds, worker_id, host, pid)"
                " SELECT %s - n, 'noop', 0, 'successful', 1, t, t, t, t, 0.001, %s, 'host-1',"
                " 4242 FROM generate_series(0, %s - 1) n,"
                " LATERAL (SELECT now() - n * (interval '1 second' / %s) AS t) f",
                NAMES.finished,
            ),
            (args.rate * seconds, uuid.uuid4(), finished, args.rate),
        )
        for table in DAY_TABLES:
            await conn.execute(q("VACUUM ANALYZE {}", table))
        print(
            f"simulated {args.hours:g} h at {args.rate}/s in {time.perf_counter() - started:.0f} s"
        )
        before = await table_sizes(conn)
    # The console's polls over a full day of statistics and the failures kept before pruning.
    polls = await poll_costs(dsn, args.calls, args.plans, "day")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        worker = WorkerQueries(conn, NAMES)
        settings = common_settings()
        started = time.perf_counter()
        pruned = await worker.prune(
            settings.failure_retention_days * 86400,
            settings.failure_retention_rows,
            settings.statistics_retention_days * 86400,
        )
        prune_seconds = time.perf_counter() - started
        started = time.perf_counter()
        gone = chunks = 0
        while True:
            went = await worker.prune_finished(
                settings.keep_finished_seconds, settings.keep_finished_rows
            )
            gone, chunks = gone + went, chunks + 1
            if went < 50_000:
                break
        finished_seconds = time.perf_counter() - started
        started = time.perf_counter()
        claim = await worker.sample_history(
            uuid.uuid4(),
            interval=settings.history_interval,
            retention_seconds=settings.history_retention_hours * 3600,
            cost_factor=100.0,
        )
        history_seconds = time.perf_counter() - started
        after = await table_sizes(conn)
        for table in DAY_TABLES:
            await conn.execute(q("VACUUM {}", table))
        vacuumed = await table_sizes(conn)
    print(
        f"\nprune: failures/statistics/pauses/workers {pruned} in {prune_seconds:.2f} s;"
        f" finished {gone:,} rows in {chunks} chunks, {finished_seconds:.1f} s;"
        f" history sample (prunes past retention) {claim.pruned:,} in {history_seconds:.2f} s"
    )
    print_polls(f"{args.hours:g} h of statistics, before pruning", [(seconds, polls)])
    print(f"\ntables after {args.hours:g} h at {args.rate}/s (MiB, live rows)")
    print(f"{'table':<22} {'before prune':>22} {'after prune':>22} {'after VACUUM':>22}")
    for table in before:
        cells = "".join(
            f"{f'{s[table][0] / 2**20:,.1f} ({s[table][1]:,})':>23}"
            for s in (before, after, vacuumed)
        )
        print(f"{table:<22}{cells}")


PLAN_LINE = re.compile(
    r"^(\s*(?:->\s*)?)(LockRows|Update on|Index Scan|Index Only Scan)\b.*?"
    r"actual time=[0-9.]+\.\.([0-9.]+) rows=(\d+) loops=(\d+)"
)


async def explain_dequeue(
    conn: psycopg.AsyncConnection[Any], names: Sequence[str], batch: int
) -> list[str]:
    """The engine's dequeue of one batch, explained and rolled back: nothing is taken."""
    from pgqtop.db.statements.worker import worker_statements

    statement = worker_statements(NAMES).dequeue
    params = {
        "entrypoints": list(names),
        "rooms": [batch] * len(names),
        "batch": batch,
        "worker": uuid.uuid4(),
        "retry_seconds": 30.0,
        "caps": None,
        "held": None,
    }
    async with conn.transaction(force_rollback=True):
        cur = await conn.execute(b"EXPLAIN (ANALYZE, BUFFERS, WAL) " + statement, params)
        return [str(r[0]) for r in await cur.fetchall()]


def plan_summary(plan: Sequence[str]) -> str:
    """Execution time, the top node's buffers and WAL, and how many rows were locked."""
    text = "\n".join(plan)
    execution = re.search(r"Execution Time: ([0-9.]+) ms", text)
    buffers = BUFFERS.search(text)
    wal = re.search(r"WAL: records=(\d+)", text)
    locked = sum(
        int(m[4]) * int(m[5])
        for m in (PLAN_LINE.match(line) for line in plan)
        if m is not None and m[2] == "LockRows"
    )
    hit = int(buffers[2] or 0) if buffers else 0
    read = int(buffers[4] or 0) if buffers else 0
    return (
        f"{float(execution[1]) if execution else 0:8.2f} ms  buffers hit {hit:>7,} read {read:>6,}"
        f"  WAL records {int(wal[1]) if wal else 0:>6,}  rows locked {locked:>7,}"
    )


async def dequeue(dsn: str, args: argparse.Namespace) -> None:
    names = many_entrypoints.names(args.entrypoints) if args.entrypoints > 1 else ["noop"]
    factory = (
        "benchmarks.many_entrypoints:register"
        if args.entrypoints > 1
        else "benchmarks.noop:register"
    )
    env = {"PGQTOP_BENCH_ENTRYPOINTS": str(args.entrypoints)}
    for size in args.sizes:
        common.fresh_tables(dsn)
        await enqueue(dsn, (NewJob(names[i % len(names)]) for i in range(size)))
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            plan = await explain_dequeue(conn, names, 100)
            print(f"{size:>11,} queued, {len(names)} entrypoint(s), fresh:   {plan_summary(plan)}")
            await conn.execute("SET jit = off")
            no_jit = plan_summary(await explain_dequeue(conn, names, 100))
            await conn.execute("RESET jit")
            jit = re.search(r"Functions: (\d+)", "\n".join(plan))
            print(
                f"{'':>11}  JIT functions compiled: {jit[1] if jit else 'none'};"
                f" with jit=off: {no_jit}"
            )
            if args.plans is not None:
                write_plan(args.plans / f"dequeue-{size}-{len(names)}-fresh.txt", "\n".join(plan))
            before = await checkpoints(conn)
            rate = await drain_rate(dsn, size, args.window, factory=factory, env=env)
            plan = await explain_dequeue(conn, names, 100)
            dead = await (
                await conn.execute(
                    "SELECT n_dead_tup, autovacuum_count, last_autovacuum"
                    " FROM pg_stat_user_tables WHERE relid = %s::regclass",
                    (f'"{NAMES.jobs}"',),
                )
            ).fetchone()
            print(
                f"{size:>11,} queued, after {args.window:g} s at {rate:,.0f}/s:"
                f" {plan_summary(plan)}"
            )
            print(
                f"{'':>11}  dead rows {dead[0] if dead else '?':,}, autovacuums"
                f" {dead[1] if dead else '?'} (last {dead[2] if dead else '?'}),"
                f" checkpoints during the drain {await checkpoints(conn) - before}"
            )
            if args.plans is not None:
                write_plan(args.plans / f"dequeue-{size}-{len(names)}-drained.txt", "\n".join(plan))


async def checkpoints(conn: psycopg.AsyncConnection[Any]) -> int:
    row = await (
        await conn.execute("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
    ).fetchone()
    return int(row[0]) if row else 0


def common_settings() -> Any:
    from pgqtop.config import Settings

    return Settings()


MODES = {
    "backlog": (backlog, [10_000, 100_000, 1_000_000]),
    "payload": (payload, [100, 10_000, 1_000_000]),
    "entrypoints": (entrypoints, [1, 10, 100, 1000]),
    "failures": (failures, [1_000, 10_000, 100_000, 1_000_000]),
    "workers": (workers, [1, 10, 100]),
    "sizes": (sizes, []),
    "dequeue": (dequeue, [1_000_000]),
}


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("--sizes", type=int, nargs="+", help="the values the mode varies")
    p.add_argument("--window", type=float, default=15.0, help="seconds of draining measured")
    p.add_argument("--jobs", type=int, default=30_000, help="jobs queued (payload, entrypoints)")
    p.add_argument("--calls", type=int, default=5, help="calls per poll (median)")
    p.add_argument("--plans", type=Path, help="folder for the EXPLAIN ANALYZE plans")
    p.add_argument("--plot", action="store_true", help="text plots of the curves")
    p.add_argument("--rate", type=int, default=1000, help="sizes: jobs/s simulated")
    p.add_argument("--hours", type=float, default=24.0, help="sizes: hours simulated")
    p.add_argument(
        "--finished-hours", type=float, default=1.5, help="sizes: hours of finished jobs present"
    )
    p.add_argument(
        "--compare-jit-off",
        action="store_true",
        help="backlog: also drain each backlog with the server's JIT off for the worker",
    )
    p.add_argument(
        "--entrypoints", type=int, default=1, help="dequeue: entrypoints the backlog spreads over"
    )
    p.add_argument("--failure-share", type=float, default=0.01, help="sizes: share that fails")
    args = p.parse_args()
    run, default = MODES[args.mode]
    args.sizes = args.sizes or default
    if any(size < 0 for size in args.sizes):
        raise SystemExit("--sizes must not be negative")
    dsn = common.bench_dsn(args.admin_dsn, args.database)
    print(f"{args.mode}: load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    asyncio.run(run(dsn, args))


if __name__ == "__main__":
    main()
