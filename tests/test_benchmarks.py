"""The benchmark programs still work: the drain benchmark end to end at a tiny size, and the
pgbench rendering of pgqtop's own statements drains real jobs. Figures are not checked here;
the programs under benchmarks/ print them at full size."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqtop.config import ObjectNames

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import sql_cost  # noqa: E402  (a program of benchmarks/, found through the path above)


@pytest.mark.slow
def test_drain_benchmark_runs_at_a_tiny_size(dsn: str) -> None:
    database = f"pgqtop_bench_{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable,
        "benchmarks/drain.py",
        "--admin-dsn",
        dsn,
        "--database",
        database,
        "--jobs",
        "300",
        "--runs",
        "1",
        "--pgqtop-batch",
        "50",
        "--pgqtop-processes",
        "1",
        "--no-peer",
        "--no-limit",
        "--compare-keep-finished",
        "--claim-lock",
    ]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
    assert done.returncode == 0, done.stderr[-2000:]
    row = re.search(r"^pgqtop\s+50\s+1\s+(\d+)$", done.stdout, re.MULTILINE)
    assert row is not None, done.stdout
    assert int(row[1]) > 0
    bare = re.search(r"^pgqtop keep=0\s+50\s+1\s+(\d+)$", done.stdout, re.MULTILINE)
    assert bare is not None and int(bare[1]) > 0, done.stdout
    assert re.search(r"^batch 50, 1 process\(es\): \d+ vs \d+ jobs/s", done.stdout, re.MULTILINE)
    locked = re.search(r"^pgqtop lock\s+50\s+1\s+(\d+)$", done.stdout, re.MULTILINE)
    assert locked is not None and int(locked[1]) > 0, done.stdout


@pytest.mark.skipif(shutil.which("pgbench") is None, reason="pgbench is not installed")
def test_pgbench_script_of_pgqtop_statements_drains_jobs(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    jobs, statistics = sql.Identifier(names.jobs), sql.Identifier(names.statistics)
    sync_conn.execute(
        sql.SQL("INSERT INTO {} (entrypoint) SELECT 'noop' FROM generate_series(1, 30)").format(
            jobs
        )
    )
    script = tmp_path / "pgqtop.sql"
    script.write_text(sql_cost.pgbench_script(names))

    # Two transactions of a batch of 10: claim then complete, twice.
    sql_cost.pgbench(dsn, script, batch=10, clients=1, length=["-t", "2"])

    left = sync_conn.execute(sql.SQL("SELECT count(*) FROM {}").format(jobs)).fetchone()
    done = sync_conn.execute(
        sql.SQL("SELECT sum(count) FROM {} WHERE status = 'successful'").format(statistics)
    ).fetchone()
    assert left == (10,)
    assert done == (20,)


@pytest.mark.skipif(shutil.which("pgbench") is None, reason="pgbench is not installed")
def test_pgbench_lock_claim_script_drains_jobs_with_no_claim_write(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    jobs, statistics = sql.Identifier(names.jobs), sql.Identifier(names.statistics)
    sync_conn.execute(
        sql.SQL("INSERT INTO {} (entrypoint) SELECT 'noop' FROM generate_series(1, 30)").format(
            jobs
        )
    )
    script = tmp_path / "pgqtop_locks.sql"
    script.write_text(sql_cost.lock_claim_script(names))

    # Two transactions of a batch of 10: lock, complete, commit, twice.
    sql_cost.pgbench(dsn, script, batch=10, clients=1, length=["-t", "2"])

    left = sync_conn.execute(
        sql.SQL("SELECT count(*), count(*) FILTER (WHERE status = 'queued') FROM {}").format(jobs)
    ).fetchone()
    done = sync_conn.execute(
        sql.SQL("SELECT sum(count) FROM {} WHERE status = 'successful'").format(statistics)
    ).fetchone()
    kept = sync_conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(names.finished))
    ).fetchone()
    assert left == (10, 10)
    assert done == (20,)
    assert kept == (20,)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_idle_console_benchmark_runs_at_a_tiny_size(dsn: str) -> None:
    database = f"pgqtop_bench_{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable,
        "benchmarks/idle_console.py",
        *("--admin-dsn", dsn, "--database", database),
        *("--seconds", "1", "--settle", "0", "--rate", "100"),
        *("--tmux-socket", f"pgqtop-test-{uuid.uuid4().hex[:8]}"),
    ]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
    assert done.returncode == 0, done.stderr[-2000:]
    share = r"console\s+[\d.]+ %\s+its (\d) backends\s+[\d.]+ %"
    idle = re.search(r"^idle\s+" + share, done.stdout, re.MULTILINE)
    assert idle is not None and int(idle[1]) >= 2, done.stdout
    flowing = re.search(r"^with 100/s flowing \((\d+)/s done\)\s+" + share, done.stdout, re.M)
    assert flowing is not None and int(flowing[1]) > 0, done.stdout


def _curves(dsn: str, *args: str) -> str:
    """curves.py run in a scratch database of its own; its output."""
    database = f"pgqtop_bench_{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "benchmarks/curves.py", *args, "--admin-dsn", dsn]
    try:
        done = subprocess.run(
            [*command, "--database", database],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_cost_curves_run_at_a_tiny_size(dsn: str, tmp_path: Path) -> None:
    backlog = _curves(
        dsn, "backlog", "--sizes", "300", "--window", "2", "--calls", "1", "--plans", str(tmp_path)
    )
    drained = re.search(r"^\s+300\s+(\d+)$", backlog, re.MULTILINE)
    assert drained is not None and int(drained[1]) > 0, backlog
    assert re.search(r"^queue_counts\s+[\d.]+ / [\d.]+ / \d+$", backlog, re.MULTILINE), backlog
    assert "Seq Scan" in (tmp_path / "backlog-300-queue_counts.txt").read_text()

    day = _curves(dsn, "sizes", "--rate", "10", "--hours", "2", "--finished-hours", "1.5")
    # 1.5 h of finished jobs at 10/s, of which the default hour stays after the prune.
    finished = re.search(r"^bench_finished\s+[\d.]+ \(([\d,]+)\)\s+[\d.]+ \(([\d,]+)\)", day, re.M)
    assert finished is not None, day
    assert int(finished[1].replace(",", "")) == 54_000
    assert 35_900 <= int(finished[2].replace(",", "")) <= 36_100
