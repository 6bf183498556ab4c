"""Jobs that take their worker down: a poison job under a restarting supervisor is given up
after its attempts, and a handler that blocks the event loop does not make its worker look dead.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from pgqtop.db.producer import SyncQueries
from tests.reliability.conftest import sq
from tests.reliability.recording_factory import create_runs_table, runs_table
from tests.waiting import eventually_sync

ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    dsn: str, names: ObjectNames, log: Path, retry_timer: float, claim: str = "update"
) -> subprocess.Popen[bytes]:
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
        "tests.reliability.lost_factory:register",
        "--retry-timer",
        str(retry_timer),
        "--dequeue-timeout",
        "0.5",
        "--shutdown-grace",
        "2",
        "--claim",
        claim,
    ]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def runs(conn: psycopg.Connection[Any], names: ObjectNames) -> list[tuple[int, int, int]]:
    query = psycopg.sql.SQL("SELECT job_id, attempt, pid FROM {} ORDER BY at").format(
        runs_table(names)
    )
    return [(int(r[0]), int(r[1]), int(r[2])) for r in conn.execute(query).fetchall()]


def one(conn: psycopg.Connection[Any], query: Any) -> Any:
    row = conn.execute(query).fetchone()
    return None if row is None else row[0]


def stop(*workers: subprocess.Popen[bytes]) -> list[int | None]:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    codes: list[int | None] = []
    for worker in workers:
        try:
            codes.append(worker.wait(15))
        except subprocess.TimeoutExpired:
            worker.kill()
            codes.append(None)
    return codes


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("claim", ["update", "lock"])
def test_a_poison_job_kills_max_attempts_workers_then_is_a_final_failure(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any], tmp_path: Path, claim: str
) -> None:
    """Taken by UPDATE, each death is found by the retry timer; held by row locks, the job is
    due again at once and the lost attempts are read from the dead lanes' rows."""
    create_runs_table(sync_conn, names)
    (job_id,) = SyncQueries(sync_conn, names).enqueue("poison")
    logs = tmp_path / "workers.log"
    final = sq("SELECT error FROM {failures} WHERE final", names)
    deaths = 0
    worker = start_worker(dsn, names, logs, retry_timer=1.0, claim=claim)
    began = time.monotonic()
    deadline = began + 60
    try:
        while one(sync_conn, final) is None and time.monotonic() < deadline:
            if worker.poll() is not None:  # a supervisor restarts what dies
                deaths += 1
                worker = start_worker(dsn, names, logs, retry_timer=1.0, claim=claim)
            time.sleep(0.05)
    finally:
        (code,) = stop(worker)
    print(f"poison job given up after {deaths} deaths, {time.monotonic() - began:.1f}s")

    ran = runs(sync_conn, names)
    assert [(j, attempt) for j, attempt, _ in ran] == [(job_id, 1), (job_id, 2)], logs.read_text()
    assert deaths == 2
    assert one(sync_conn, final) == (
        f"worker lost 2 times: last seen on {socket.gethostname()}, pid {ran[-1][2]}"
        if claim == "update"
        else "worker lost 2 times while holding it in a lock-claimed batch"
    )
    assert one(sync_conn, sq("SELECT attempts FROM {failures}", names)) == 2
    assert one(sync_conn, sq("SELECT count(*) FROM {jobs}", names)) == 0
    assert one(sync_conn, sq("SELECT sum(count)::int FROM {statistics}", names)) == 1
    assert code == 0, logs.read_text()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_handler_blocking_the_loop_runs_once_and_the_log_names_it(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """Blocked for 3 s against a retry timer of 2 s, beside a second worker that would re-take
    the job if nothing beat for it (and then run it before this one completes: the count of
    runs is final once the job has succeeded)."""
    create_runs_table(sync_conn, names)
    (job_id,) = SyncQueries(sync_conn, names).enqueue("blocker")
    logs = tmp_path / "workers.log"
    workers = [start_worker(dsn, names, logs, retry_timer=2.0) for _ in range(2)]
    succeeded = sq(
        "SELECT coalesce(sum(count), 0)::int FROM {statistics} WHERE status = 'successful'",
        names,
    )
    try:
        eventually_sync(
            lambda: one(sync_conn, succeeded) == 1,
            40,
            "the blocking job to complete",
            detail=lambda: logs.read_text()[-3000:],
        )
    finally:
        codes = stop(*workers)

    text = logs.read_text()
    assert [j for j, _, _ in runs(sync_conn, names)] == [job_id], text
    assert "event loop blocked for" in text and f"by job {job_id} (blocker)" in text, text
    assert "time.sleep(BLOCK_SECONDS)" in text, text
    assert codes == [0, 0], text
