"""Soak: headless workers under a steady producer for many minutes, watched for leaks.

Samples, per worker process: resident memory (/proc/PID/status VmRSS), OS threads, asyncio
tasks (reported by a probe the factory below starts inside the worker), and the worker's
connections in pg_stat_activity (found by the application names its worker id gives them).
Prints one table row per sample, then verdicts: RSS growth after warm-up under 10%, the same
number of connections throughout, no thread or task growth. Exit status 1 if a verdict fails.

    python benchmarks/soak.py --minutes 10 [--dsn URL] [--workers 2] [--rate 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgqtop.config import ObjectNames  # noqa: E402
from pgqtop.db import schema  # noqa: E402
from pgqtop.db.producer import SyncQueries  # noqa: E402
from pgqtop.server import LOCAL_TEST_DSN  # noqa: E402

PROBE_ENV = "PGQTOP_SOAK_PROBE"
ENTRYPOINTS = ("soak_fast", "soak_slow", "soak_flaky")
_PROBES: set[asyncio.Task[None]] = set()


# --- inside each worker: the factory and its probe ----------------------------------------------


async def register(qm: Any) -> None:
    """Entrypoints for the soak, plus a probe writing the event loop's task count each second."""

    async def fast(job: Any) -> None:
        await asyncio.sleep(0.001)

    async def slow(job: Any) -> None:
        await asyncio.sleep(random.uniform(0.01, 0.05))

    async def flaky(job: Any) -> None:
        if random.random() < 0.1:
            raise RuntimeError("a tenth of these fail, to exercise the failures table")

    qm.entrypoint(ENTRYPOINTS[0])(fast)
    qm.entrypoint(ENTRYPOINTS[1])(slow)
    qm.entrypoint(ENTRYPOINTS[2], retry=qm.retry(max_attempts=2, initial_delay=0.1))(flaky)
    probe = os.environ.get(PROBE_ENV)
    if probe:
        _PROBES.add(asyncio.get_running_loop().create_task(_probe(Path(probe), qm)))


async def _probe(path: Path, qm: Any) -> None:
    while True:
        report = {"tasks": len(asyncio.all_tasks()), "worker_id": str(qm.worker_id)}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(report))
        temporary.replace(path)
        await asyncio.sleep(1.0)


# --- outside: producer, sampler, verdicts -------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "Threads"):
            values[key] = int(rest.split()[0])
    return values


def connections(conn: psycopg.Connection[Any], worker_ids: list[str]) -> int:
    names = [f"pgqtop {p} {w[:8]}" for w in worker_ids for p in ("worker", "complete", "listen")]
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY(%s)", (names,)
    ).fetchone()
    return int(row[0]) if row else 0


def start_worker(
    dsn: str, names: ObjectNames, probe: Path, concurrency: int
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, **{PROBE_ENV: str(probe)})
    command = [
        sys.executable, "-m", "pgqtop", "--headless", "--dsn", dsn, "--prefix", names.prefix,
        "--factory", "benchmarks.soak:register", "--concurrency", str(concurrency),
        "--log-level", "warning",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=os.environ.get("PGQTOP_DSN", LOCAL_TEST_DSN))
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    parser.add_argument("--workers", type=int, default=2, help="headless worker processes")
    parser.add_argument("--rate", type=int, default=300, help="jobs enqueued per second")
    parser.add_argument("--concurrency", type=int, default=50, help="per worker")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds before the RSS baseline "
        "(default: a fifth of the run, at most 2 minutes)",
    )  # fmt: skip
    args = parser.parse_args()
    duration = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(duration / 5, 120.0)
    names = ObjectNames(f"soak_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        schema.install(admin, names)
    probes_dir = Path(tempfile.mkdtemp(prefix="pgqtop-soak-"))
    probes = [probes_dir / f"worker{i}.json" for i in range(args.workers)]
    workers = [start_worker(args.dsn, names, p, args.concurrency) for p in probes]
    samples: list[dict[str, Any]] = []
    enqueued = 0
    try:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            producer = SyncQueries(conn, names)
            started = time.monotonic()
            next_sample = started + min(args.sample, 5.0)
            tick = 0.1
            per_tick = max(1, round(args.rate * tick))
            header = (
                f"{'t':>6} {'enqueued':>9} {'done':>9} {'queued':>7} "
                f"{'rss MiB':>18} {'threads':>9} {'tasks':>9} {'conns':>6}"
            )
            print(f"soak: {args.workers} workers, {args.rate} jobs/s, {args.minutes:g} min, "
                  f"prefix {names.prefix}; warm-up {warmup:.0f}s")  # fmt: skip
            print(header)
            while (now := time.monotonic()) - started < duration:
                producer.enqueue([ENTRYPOINTS[i % 3] for i in range(per_tick)], None, 0)
                enqueued += per_tick
                if now >= next_sample:
                    next_sample += args.sample
                    samples.append(sample(conn, names, workers, probes, now - started, enqueued))
                    print(row(samples[-1]), flush=True)
                for worker in workers:
                    if worker.poll() is not None:
                        raise SystemExit(f"worker {worker.pid} died with {worker.returncode}")
                time.sleep(max(0.0, tick - (time.monotonic() - now)))
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            schema.uninstall(admin, names)
    return verdicts(samples, warmup)


def sample(
    conn: psycopg.Connection[Any],
    names: ObjectNames,
    workers: list[subprocess.Popen[bytes]],
    probes: list[Path],
    elapsed: float,
    enqueued: int,
) -> dict[str, Any]:
    stats = sql.SQL("SELECT coalesce(sum(count), 0) FROM {}").format(
        sql.Identifier(names.statistics)
    )
    queued = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(names.jobs))
    reports = [json.loads(p.read_text()) if p.exists() else {} for p in probes]
    status = [proc_status(w.pid) for w in workers]
    ids = [r["worker_id"] for r in reports if "worker_id" in r]
    return {
        "t": elapsed,
        "enqueued": enqueued,
        "done": int(conn.execute(stats).fetchone()[0]),  # type: ignore[index]
        "queued": int(conn.execute(queued).fetchone()[0]),  # type: ignore[index]
        "rss": [s["VmRSS"] / 1024 for s in status],
        "threads": [s["Threads"] for s in status],
        "tasks": [r.get("tasks", 0) for r in reports],
        "conns": connections(conn, ids),
    }


def row(s: dict[str, Any]) -> str:
    def each(values: list[float], fmt: str) -> str:
        return "/".join(format(v, fmt) for v in values)

    return (
        f"{s['t']:>6.0f} {s['enqueued']:>9} {s['done']:>9} {s['queued']:>7} "
        f"{each(s['rss'], '.1f'):>18} {each(s['threads'], 'd'):>9} "
        f"{each(s['tasks'], 'd'):>9} {s['conns']:>6}"
    )


def verdicts(samples: list[dict[str, Any]], warmup: float) -> int:
    settled = [s for s in samples if s["t"] >= warmup]
    if len(settled) < 2:
        print("not enough samples after warm-up for a verdict")
        return 1
    first, last = settled[0], settled[-1]
    growth = [(b - a) / a * 100 for a, b in zip(first["rss"], last["rss"], strict=True)]
    conns = {s["conns"] for s in samples[1:]}
    threads = [max(s["threads"][i] for s in settled) - first["threads"][i]
               for i in range(len(first["threads"]))]  # fmt: skip
    task_peak = max(max(s["tasks"]) for s in settled)
    task_growth = [b - a for a, b in zip(first["tasks"], last["tasks"], strict=True)]
    checks = [
        (f"RSS growth after warm-up {', '.join(f'{g:+.1f}%' for g in growth)} < 10%",
         all(g < 10 for g in growth)),
        (f"connections constant: {sorted(conns)}", len(conns) == 1),
        (f"threads after warm-up grew by {threads}", all(t <= 0 for t in threads)),
        (f"asyncio tasks: first {first['tasks']}, last {last['tasks']}, peak {task_peak}",
         all(g <= 0 or g < 0.5 * task_peak for g in task_growth)),
        (f"kept up: {last['queued']} queued of {last['enqueued']} enqueued",
         last["queued"] < last["enqueued"] * 0.05 + 1000),
    ]  # fmt: skip
    ok = True
    for text, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
        ok = ok and passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
