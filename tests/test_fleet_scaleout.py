"""Scale-out: four `pgqtop --headless` processes share one queue; a pause holds across all.

Every handler appends (job id, entrypoint, dequeue time, start time) to a per-process file, so
the test can prove each job ran exactly once and that no job of the paused entrypoint was taken
by a dequeue that began after `pgqtop pause` had returned.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop.cli import main
from pgqtop.config import ObjectNames
from tests.test_schema import sq
from tests.waiting import eventually_sync

WORKERS = 4
JOBS = int(os.environ.get("PGQTOP_SCALEOUT_JOBS", "40000"))
ENTRYPOINTS = ("e0", "e1", "e2")
PAUSED = "e1"
PAUSE_HOLD_SECONDS = 2.0
DEADLINE_SECONDS = 150.0

FACTORY = """
import os
import time

RECORDS = os.environ["PGQTOP_SCALEOUT_RECORDS"]


def register(manager):
    path = os.path.join(RECORDS, f"{os.getpid()}.log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    async def handle(job):
        line = f"{job.id} {job.entrypoint} {job.updated.timestamp()} {time.time()}\\n"
        os.write(fd, line.encode())

    for name in ("e0", "e1", "e2"):
        manager.entrypoint(name)(handle)
"""


def remaining(conn: psycopg.Connection[Any], names: ObjectNames) -> dict[str, int]:
    rows = conn.execute(
        sq("SELECT entrypoint, count(*) FROM {jobs} GROUP BY entrypoint", names)
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def read_records(directory: Path) -> list[tuple[int, str, float, float]]:
    records = []
    for path in directory.glob("*.log"):
        for line in path.read_text().splitlines():
            job_id, entrypoint, dequeued, started = line.split()
            records.append((int(job_id), entrypoint, float(dequeued), float(started)))
    return records


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_four_headless_workers_finish_every_job_once_and_honour_a_pause(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    where = ["--dsn", dsn, "--prefix", names.prefix]
    records = tmp_path / "records"
    records.mkdir()
    (tmp_path / "scale_jobs.py").write_text(FACTORY)
    sync_conn.execute(
        sq(
            "INSERT INTO {jobs} (entrypoint)"
            " SELECT (ARRAY['e0', 'e1', 'e2'])[1 + i %% 3] FROM generate_series(0, %s - 1) i",
            names,
        ),
        (JOBS,),
    )
    environment = {**os.environ, "PGQTOP_SCALEOUT_RECORDS": str(records)}
    workers = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "pgqtop", "--headless"),
                *("--factory", "scale_jobs:register", "--log-level", "warning", *where),
            ],
            cwd=tmp_path,
            env=environment,
            stdout=(tmp_path / f"worker{n}.out").open("w"),
            stderr=subprocess.STDOUT,
        )
        for n in range(WORKERS)
    ]
    try:
        started = time.monotonic()
        per_entrypoint = JOBS // len(ENTRYPOINTS)
        # Pause once the fleet is well into the run, with plenty of PAUSED jobs still waiting.
        eventually_sync(
            lambda: remaining(sync_conn, names).get(PAUSED, 0) < per_entrypoint * 0.8,
            DEADLINE_SECONDS,
            "the fleet to start",
        )
        assert main(["pause", PAUSED, "--reason", "scale-out test", *where]) == 0
        paused_at = time.time()
        waiting_at_pause = remaining(sync_conn, names).get(PAUSED, 0)
        time.sleep(PAUSE_HOLD_SECONDS)
        waiting_before_resume = remaining(sync_conn, names).get(PAUSED, 0)
        resumed_at = time.time()
        assert main(["resume", PAUSED, *where]) == 0

        eventually_sync(lambda: not remaining(sync_conn, names), DEADLINE_SECONDS, "an empty queue")
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)

    assert all(w.returncode == 0 for w in workers), [w.returncode for w in workers]
    done = read_records(records)
    ids = [r[0] for r in done]
    assert len(ids) == JOBS and len(set(ids)) == JOBS, "every job ran exactly once"
    assert len({path.name for path in records.glob("*.log")}) == WORKERS, "all four took work"
    successful = sync_conn.execute(
        sq("SELECT sum(count)::bigint FROM {statistics} WHERE status = 'successful'", names)
    ).fetchone()
    assert successful == (JOBS,)

    # No dequeue that began after `pause` returned and before `resume` was called took a PAUSED
    # job (jobs whose dequeue had already begun may still start after the pause: allowed).
    late = [r for r in done if r[1] == PAUSED and paused_at <= r[2] < resumed_at]
    assert late == []
    assert 0 < waiting_before_resume <= waiting_at_pause
    # The rest of the fleet kept working during the pause.
    others_during_pause = [r for r in done if r[1] != PAUSED and paused_at < r[3] < resumed_at]
    assert others_during_pause
    print(f"{JOBS} jobs, {WORKERS} workers, {elapsed:.1f}s, {JOBS / elapsed:.0f} jobs/s")
