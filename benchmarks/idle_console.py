"""Idle console cost: the real `pgqtop` console in a terminal (tmux, 200x50) on a queue with six
entrypoints, 15 failures and a chart of recent completions, doing nothing an operator asked
for. After its first paint, the CPU it burns over a window (utime + stime from /proc), and the
CPU of the PostgreSQL backends serving its connections, as % of one core. Then the same while
a separate headless worker drains jobs a producer sends at a steady rate.

    python benchmarks/idle_console.py --seconds 30 --rate 2000

`--quiet` measures the idle state most consoles spend their time in instead: the same jobs,
failures and entrypoints, but the jobs have waited for hours, the failures are an hour old and
nothing completed in the chart's window, so no age ticks each second and the chart has nothing
to move.

`--workers N` first starts N idle `pgqtop --headless` workers on the same tables (they serve the
flowing variant's entrypoint too, so they share its jobs): the workers pane then shows N live
rows whose heartbeat ages tick.

`--hold SECONDS` leaves the idle console running that long after its window, its pid printed,
for a profiler (py-spy record -d 20 -p PID).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from pgqtop.db.producer import Queries

FLOW = "noop"
"""The entrypoint the headless worker serves (benchmarks.noop) in the flowing variant."""
ENTRYPOINTS = (FLOW, "send_email", "resize_image", "sync_crm", "build_report", "webhook")
FAILURES = 15
CHART_MINUTES = 10
TMUX_SOCKET = "pgqtop-idle-bench"
"""tmux server of its own (`-L`), so no other session is touched; --tmux-socket changes it."""
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / TICK


def seed(dsn: str, *, quiet: bool = False) -> None:
    """Jobs waiting on every entrypoint, final failures with tracebacks, and per-second
    statistics for the last minutes: the rows the engine would have written. Quiet: the jobs
    and failures are hours old and there are no recent statistics."""
    names = common.NAMES
    ago = "2 hours" if quiet else "0 seconds"
    failed_ago = "1 hour" if quiet else "0 seconds"
    chart_seconds = 0 if quiet else CHART_MINUTES * 60
    with psycopg.connect(dsn, autocommit=True) as conn:
        waiting = [name for name in ENTRYPOINTS for _ in range(40)]
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (entrypoint, created, execute_after)"
                    " SELECT unnest(%s::text[]), now() - %s::interval, now() - %s::interval"
                ).format(sql.Identifier(names.jobs)),
                (waiting, ago, ago),
            )
            failing = [ENTRYPOINTS[1 + i % 3] for i in range(FAILURES)]
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (job_id, entrypoint, attempts, error, traceback, job_created,"
                    " failed_at) SELECT 1000000 + n, e, 3, 'ConnectionError: host ' || n ||"
                    " ' refused', 'Traceback (most recent call last):' || chr(10) || '  File x'"
                    " || chr(10) || 'ConnectionError', now() - interval '20 minutes',"
                    " now() - %s::interval - n * interval '40 seconds'"
                    " FROM unnest(%s::text[]) WITH ORDINALITY AS f(e, n)"
                ).format(sql.Identifier(names.failures)),
                (failed_ago, failing),
            )
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (created, entrypoint, status, priority, count,"
                    " queue_seconds_sum, queue_seconds_max, run_seconds_sum, run_seconds_max)"
                    " SELECT date_trunc('second', now()) - s * interval '1 second', e,"
                    " 'successful', 0, 1 + (s + length(e)) %% 20, 0.01, 0.01, 0.02, 0.01"
                    " FROM unnest(%s::text[]) e, generate_series(1, %s) s"
                ).format(sql.Identifier(names.statistics)),
                (list(ENTRYPOINTS), chart_seconds),
            )
        conn.execute("VACUUM ANALYZE")


def start_fleet(dsn: str, count: int) -> list[subprocess.Popen[bytes]]:
    """`count` headless workers, registered (and so on the console's first poll) on return."""
    command, env = common.worker_command(dsn), common.worker_env()
    fleet = [subprocess.Popen(command, cwd=common.ROOT, env=env) for _ in range(count)]
    try:
        asyncio.run(registered(dsn, count))
    except BaseException:
        stop_fleet(fleet)
        raise
    return fleet


async def registered(dsn: str, count: int) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await common.wait_for_workers(conn, count)


def stop_fleet(fleet: list[subprocess.Popen[bytes]]) -> None:
    for worker in fleet:
        worker.terminate()
    for worker in fleet:
        worker.wait(timeout=60)


def tmux(socket: str, *args: str) -> str:
    done = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=True)
    return done.stdout


def start_console(socket: str, dsn: str, config: str, width: int, height: int) -> int:
    """The console in a detached tmux session of the given size; its process id."""
    command = " ".join(
        [
            "exec",
            "env",
            "TERM=xterm-256color",
            f"PGQTOP_CONFIG_DIR={config}",
            f"PYTHONPATH={common.ROOT}",
            sys.executable,
            "-m",
            "pgqtop",
            "--dsn",
            f"'{dsn}'",
            "--prefix",
            common.NAMES.prefix,
        ]
    )
    pid = tmux(
        socket,
        *("new-session", "-d", "-s", "console", "-x", str(width), "-y", str(height)),
        *("-P", "-F", "#{pane_pid}", command),
    )
    return int(pid.strip().splitlines()[-1])


def wait_for_paint(socket: str, deadline: float = 60.0) -> float:
    """Seconds until every entrypoint shows on the screen."""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        screen = tmux(socket, "capture-pane", "-p", "-t", "console")
        if all(name in screen for name in ENTRYPOINTS):
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError("the console did not show its entrypoints within 60 s:\n" + screen)


def backends_of(dsn: str) -> list[int]:
    """The PostgreSQL backend pids serving the console: the scratch database is its own, and
    the console names its connections "pgqtop console ..." (db/connection.py)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name LIKE 'pgqtop console%'"
        ).fetchall()
    return [int(r[0]) for r in rows]


def window(pids: Iterable[int], seconds: float) -> tuple[float, dict[int, float]]:
    """Wall seconds of the window, and the CPU seconds each pid used in it."""
    pids = list(pids)
    before = {p: cpu_seconds(p) for p in pids}
    started = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    return wall, {p: cpu_seconds(p) - before[p] for p in pids}


async def produce(dsn: str, rate: int, stop: asyncio.Event) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = Queries(conn, common.NAMES)
        started = time.perf_counter()
        sent = 0
        while not stop.is_set():
            due = int(rate * (time.perf_counter() - started)) - sent
            if due > 0:
                await queries.enqueue([FLOW] * due)
                sent += due
            await asyncio.sleep(0.01)


async def successful(conn: psycopg.AsyncConnection[Any]) -> int:
    row = await (
        await conn.execute(
            sql.SQL(
                "SELECT coalesce(sum(count), 0) FROM {} WHERE status = 'successful'"
                " AND entrypoint = %s"
            ).format(sql.Identifier(common.NAMES.statistics)),
            (FLOW,),
        )
    ).fetchone()
    return int(row[0]) if row else 0


def report(
    label: str, wall: float, used: dict[int, float], console: int, backends: list[int]
) -> None:
    own = used[console] / wall * 100
    pg = sum(used[p] for p in backends) / wall * 100
    print(
        f"{label:<34} console {own:6.2f} %   its {len(backends)} backends {pg:6.2f} %"
        f"   total {own + pg:6.2f} % of one core"
    )


async def flowing(dsn: str, console: int, backends: list[int], rate: int, seconds: float) -> None:
    """The same measurement while a headless worker drains `rate` jobs/s."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        worker = await common.start_worker(dsn)
        stop = asyncio.Event()
        producer = asyncio.create_task(produce(dsn, rate, stop))
        try:
            await common.wait_for_workers(conn, 1)
            await asyncio.sleep(3)  # the flow settles
            done_before = await successful(conn)
            loop = asyncio.get_running_loop()
            wall, used = await loop.run_in_executor(
                None, window, [console, worker.pid, *backends], seconds
            )
            done = (await successful(conn) - done_before) / wall
        finally:
            stop.set()
            await producer
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), timeout=60)
    report(f"with {rate}/s flowing ({done:.0f}/s done)", wall, used, console, backends)
    print(f"{'':<34} (the headless worker itself: {used[worker.pid] / wall * 100:.1f} %)")


def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--seconds", type=float, default=30.0, help="measuring window")
    p.add_argument("--rate", type=int, default=2000, help="jobs/s in the flowing variant")
    p.add_argument("--size", default="200x50", help="terminal size, COLUMNSxLINES")
    p.add_argument("--settle", type=float, default=5.0, help="seconds after first paint")
    p.add_argument("--no-flow", action="store_true", help="measure the idle console only")
    p.add_argument(
        "--quiet",
        action="store_true",
        help="hours-old jobs and failures, nothing in the chart: no age ticks each second",
    )
    p.add_argument(
        "--workers", type=int, default=0, metavar="N", help="idle headless workers to show"
    )
    p.add_argument("--tmux-socket", default=TMUX_SOCKET, help="tmux server name (-L)")
    p.add_argument(
        "--hold", type=float, default=0.0, help="seconds to leave the idle console up after"
    )
    args = p.parse_args()
    socket = args.tmux_socket
    if shutil.which("tmux") is None:
        raise SystemExit("tmux not found")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--size must look like 200x50, not {args.size!r}") from None
    dsn = common.bench_dsn(args.admin_dsn, args.database)
    common.fresh_tables(dsn)
    seed(dsn, quiet=args.quiet)
    fleet = start_fleet(dsn, args.workers)
    with tempfile.TemporaryDirectory() as config:
        console = start_console(socket, dsn, config, width, height)
        try:
            paint = wait_for_paint(socket)
            time.sleep(args.settle)
            backends = backends_of(dsn)
            print(
                f"console pid {console}, {width}x{height}, first paint {paint * 1000:.0f} ms;"
                f" backends {backends}; load {os.getloadavg()[0]:.2f}"
            )
            wall, used = window([console, *backends], args.seconds)
            label = "quiet" if args.quiet else "idle"
            if args.workers:
                label += f", {args.workers} workers"
            report(label, wall, used, console, backends)
            if args.hold:
                print(f"console pid {console} held for {args.hold:g} s", flush=True)
                time.sleep(args.hold)
            if not args.no_flow:
                asyncio.run(flowing(dsn, console, backends, args.rate, args.seconds))
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], check=False)
            stop_fleet(fleet)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
