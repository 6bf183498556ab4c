"""SIGKILL a headless worker in the middle of its batches, again and again, under load.

Nothing may be lost, and a job may run twice only if the killed worker held it. Each kill is
SIGSTOP, then a read of the rows the frozen worker holds (`picked` with its worker id: running,
or finished with the outcome still in its buffer), then SIGKILL: so the test knows exactly
which jobs were at risk, and checks every duplicate against that set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from pgqtop.db.producer import SyncQueries
from tests.reliability.conftest import sq
from tests.reliability.recording_factory import ENTRYPOINTS, create_runs_table, runs_table
from tests.waiting import eventually_sync

ROOT = Path(__file__).resolve().parents[2]
JOBS = 3000
KILLS = 3
CONCURRENCY = 10
RETRY_TIMER = 2.0
DEADLINE = 60.0


def start_worker(dsn: str, names: ObjectNames, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "pgqtop",
        "--headless",
        "--dsn",
        dsn,
        "--prefix",
        names.prefix,
        "--factory",
        "tests.reliability.recording_factory:register",
        "--concurrency",
        str(CONCURRENCY),
        "--batch-size",
        str(CONCURRENCY),
        "--retry-timer",
        str(RETRY_TIMER),
        "--dequeue-timeout",
        "0.5",
        "--shutdown-grace",
        "2",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def one(conn: psycopg.Connection[Any], query: Any, params: Any = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def wait_for(condition: Callable[[], object], seconds: float, what: str, logs: Path) -> None:
    """Wait with the workers' log tail in the failure."""
    eventually_sync(condition, seconds, what, detail=lambda: f"logs:\n{logs.read_text()[-3000:]}")


def busy_statements(conn: psycopg.Connection[Any], names: ObjectNames, pid: int) -> int:
    """Statements still running on the server for a worker process (its connections carry
    the first eight characters of its worker id in their application name)."""
    return int(
        one(
            conn,
            sq(
                "SELECT count(*) FROM pg_stat_activity a JOIN {workers} w"
                " ON a.application_name LIKE 'pgqtop %% ' || left(w.id::text, 8)"
                " WHERE w.pid = %s AND a.state = 'active'",
                names,
            ),
            (pid,),
        )
    )


def held_by(conn: psycopg.Connection[Any], names: ObjectNames, pid: int) -> set[int]:
    """Ids of the jobs a (frozen) worker process holds."""
    rows = conn.execute(
        sq(
            "SELECT j.id FROM {jobs} j JOIN {workers} w ON w.id = j.worker_id"
            " WHERE j.status = 'picked' AND w.pid = %s",
            names,
        ),
        (pid,),
    ).fetchall()
    return {r[0] for r in rows}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkilled_workers_lose_nothing_and_rerun_only_what_they_held(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    create_runs_table(sync_conn, names)
    SyncQueries(sync_conn, names).enqueue(
        [ENTRYPOINTS[i % 2] for i in range(JOBS)], None, [i % 3 for i in range(JOBS)]
    )
    logs = tmp_path / "workers.log"
    runs_query = psycopg.sql.SQL("SELECT count(DISTINCT job_id) FROM {}").format(runs_table(names))
    survivor = start_worker(dsn, names, logs)
    victim = start_worker(dsn, names, logs)
    at_risk: set[int] = set()
    held_per_kill: list[int] = []
    try:
        for kill in range(1, KILLS + 1):
            # Let the victim get going (registered, holding jobs) and the queue move on a bit.
            target = JOBS * kill // (KILLS + 2)
            wait_for(
                lambda target=target: one(sync_conn, runs_query) >= target,
                DEADLINE,
                f"{target} jobs run",
                logs,
            )
            wait_for(
                lambda pid=victim.pid: bool(held_by(sync_conn, names, pid)),
                DEADLINE,
                "the victim to hold jobs",
                logs,
            )
            os.kill(victim.pid, signal.SIGSTOP)
            # A dequeue the server was already running commits meanwhile: wait for it.
            wait_for(
                lambda pid=victim.pid: not busy_statements(sync_conn, names, pid),
                DEADLINE,
                "the frozen worker's statements to finish",
                logs,
            )
            held = held_by(sync_conn, names, victim.pid)
            victim.kill()
            victim.wait(10)
            held_per_kill.append(len(held))
            at_risk |= held
            victim = start_worker(dsn, names, logs)
        wait_for(
            lambda: one(sync_conn, sq("SELECT count(*) FROM {jobs}", names)) == 0,
            DEADLINE,
            "the queue to drain",
            logs,
        )
    finally:
        for process in (survivor, victim):
            process.send_signal(signal.SIGTERM)
        for process in (survivor, victim):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()

    runs = dict(
        sync_conn.execute(
            psycopg.sql.SQL("SELECT job_id, count(*) FROM {} GROUP BY job_id").format(
                runs_table(names)
            )
        ).fetchall()
    )
    duplicated = {job_id for job_id, n in runs.items() if n > 1}
    print(f"held at each kill: {held_per_kill}; ran twice: {len(duplicated)}")
    assert len(runs) == JOBS, "every job ran"
    assert all(held_per_kill), f"each kill hit a worker holding jobs: {held_per_kill}"
    assert duplicated <= at_risk, "only jobs the killed workers held ran twice"
    assert sum(runs[j] - 1 for j in duplicated) <= len(at_risk)
    assert len(at_risk) <= 2 * CONCURRENCY * KILLS  # in flight plus outcomes not yet written
    # Each job is counted once, by whichever worker finished it.
    assert one(sync_conn, sq("SELECT sum(count)::bigint FROM {statistics}", names)) == JOBS
    assert survivor.returncode == 0
