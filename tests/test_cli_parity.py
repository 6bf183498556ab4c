"""What the console's keys do, from the command line: requeue (by id, entrypoint or failure
group), cancel, and delete a group's records; each counts first, asks on a terminal, refuses
without one unless --yes. Long operations draw a progress bar on a terminal and stay quiet
when piped."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.schema import SCHEMA_VERSION
from pgqtop.db.worker import WorkerQueries
from pgqtop.model.fingerprint import error_pattern, fingerprint
from tests.test_cli_admin import cli, pgqtop, target
from tests.test_schema import sq

DECLINED = "app.Declined: card {n} declined"


def add_failures(
    conn: psycopg.Connection[Any], names: ObjectNames, entrypoint: str, errors: list[str]
) -> list[int]:
    """Final failures as a worker records them; returns their ids."""
    found = conn.execute(
        sq(
            "INSERT INTO {failures} (job_id, entrypoint, payload, error)"
            " SELECT n, %s, convert_to('p' || n, 'UTF8'), e"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS t(e, n) RETURNING id",
            names,
        ),
        (entrypoint, errors),
    ).fetchall()
    return [int(r[0]) for r in found]


def queued(conn: psycopg.Connection[Any], names: ObjectNames) -> list[tuple[str, bytes]]:
    return conn.execute(
        sq("SELECT entrypoint, payload FROM {jobs} WHERE status = 'queued' ORDER BY id", names)
    ).fetchall()


def on_a_terminal(*argv: str, answer: bytes = b"", within: float = 120) -> tuple[int, str]:
    """Run the command line on a pseudo-terminal (stdin, stdout and stderr), typing `answer`
    when it asks; returns the exit code and everything it drew."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pgqtop", *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the other side closed: the command ended
                    break
                if not chunk:
                    break
                drawn += chunk
                if answer and b"[y/N]" in drawn:
                    os.write(master, answer)
                    answer = b""
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return code, drawn.decode("utf-8", errors="replace")


# --- requeue ------------------------------------------------------------------------------------


def test_requeue_by_id_entrypoint_or_group_counts_first_and_needs_yes_without_a_terminal(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    where = target(dsn, names)
    first, second, *_ = add_failures(
        sync_conn, names, "charge", [DECLINED.format(n=n) for n in range(4)]
    )
    add_failures(sync_conn, names, "charge", ["Timeout: after 30 s"])
    add_failures(sync_conn, names, "mail", ["KeyError: 'x'"])
    group = fingerprint("charge", error_pattern(DECLINED.format(n=0)))

    refused = pgqtop("requeue", "--group", group, *where)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert f"requeue 4 failed jobs (group {group}) as new jobs" in refused.stderr
    assert queued(sync_conn, names) == []

    code, out, _ = cli(capsys, "requeue", str(first), str(first), "--yes", *where)
    assert code == 0 and out.startswith(f"requeued 1 failed jobs (failure {first}) in ")
    code, out, _ = cli(
        capsys, "requeue", "--group", group.upper(), "--yes", "--reason", "ok", *where
    )
    assert code == 0 and out.startswith(f"requeued 3 failed jobs (group {group}) in ")
    code, out, _ = cli(capsys, "requeue", "--failures-of", "mail", "--yes", *where)
    assert code == 0 and out.startswith("requeued 1 failed jobs (failures of mail) in ")
    assert [e for e, _ in queued(sync_conn, names)] == ["charge"] * 4 + ["mail"]
    assert queued(sync_conn, names)[0] == ("charge", b"p1")

    code, out, _ = cli(capsys, "requeue", str(second), "--yes", *where)
    assert code == 0 and out.startswith("nothing to requeue")
    code, out, _ = cli(capsys, "audit", "--json", *where)
    assert [(e["action"], e["count"], e["reason"]) for e in json.loads(out)] == [
        ("requeue", 1, ""),
        ("requeue", 3, "ok"),
        ("requeue", 1, ""),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "give failure IDs, --failures-of NAME or --group FINGERPRINT"),
        (("1", "--failures-of", "mail"), "give failure IDs, --failures-of NAME or --group"),
        (("--group", "nothex"), "'nothex' is not a failure group"),
    ],
)
def test_requeue_refuses_unclear_requests_with_one_line(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    argv: tuple[str, ...],
    message: str,
) -> None:
    code, out, err = cli(capsys, "requeue", *argv, "--yes", *target(dsn, names))
    assert (code, out) == (2, "") and err.count("\n") == 1 and message in err


def test_requeue_asks_on_a_terminal_with_the_exact_count(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any]
) -> None:
    add_failures(sync_conn, names, "charge", [DECLINED.format(n=n) for n in range(3)])
    where = target(dsn, names)

    code, drawn = on_a_terminal("requeue", "--failures-of", "charge", *where, answer=b"n\n")
    assert code == 1 and "requeue 3 failed jobs (failures of charge) as new jobs? [y/N]" in drawn
    assert queued(sync_conn, names) == []

    code, drawn = on_a_terminal("requeue", "--failures-of", "charge", *where, answer=b"y\n")
    assert code == 0 and "requeued 3 failed jobs" in drawn
    assert len(queued(sync_conn, names)) == 3


# --- cancel -------------------------------------------------------------------------------------


async def test_cancel_counts_the_running_jobs_and_asks_the_fleet(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
) -> None:
    where = target(dsn, names)
    ids = await queries.enqueue(["slow"] * 3)
    running = await worker_queries.dequeue({"slow": 2}, 2, uuid.uuid4(), 30)

    refused = await asyncio.to_thread(pgqtop, "cancel", *map(str, ids), *where)
    assert refused.returncode == 2 and "cancel 2 running job(s)" in refused.stderr

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as listener:
        await listener.execute(sq("LISTEN {channel}", names))
        code, out, _ = await asyncio.to_thread(
            cli, capsys, "cancel", *map(str, ids), "--yes", "--reason", "stuck", *where
        )
        events = [json.loads(n.payload) async for n in listener.notifies(timeout=0.5)]
    assert code == 0 and out.startswith("asked every worker to cancel 2 running job(s)")
    # The request reaches the two running jobs; the waiting one is not named or counted.
    assert {"op": "cancel", "job_ids": ids[:2]} in events
    (entry,) = [e for e in events if e["op"] == "audit"]
    assert (entry["action"], entry["count"], entry["reason"]) == ("cancel", 2, "stuck")
    assert sorted(j.id for j in running) == ids[:2]

    code, out, _ = await asyncio.to_thread(cli, capsys, "cancel", str(ids[2]), "--yes", *where)
    assert code == 0 and out.startswith(f"nothing to cancel: job {ids[2]} not running")


# --- deleting a failure group's records ---------------------------------------------------------


def test_purge_group_deletes_the_failure_records_of_one_group(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    where = target(dsn, names)
    add_failures(sync_conn, names, "charge", [DECLINED.format(n=n) for n in range(3)])
    add_failures(sync_conn, names, "charge", ["Timeout: after 30 s"])
    group = fingerprint("charge", error_pattern(DECLINED.format(n=0)))

    refused = pgqtop("purge", "--group", group, *where)
    assert refused.returncode == 2
    assert f"delete the 3 failure records of group {group} (charge: " in refused.stderr
    code, out, err = cli(capsys, "purge", "mail", "--group", group, "--yes", *where)
    assert code == 2 and err.count("\n") == 1 and "--group" in err

    code, out, _ = cli(capsys, "purge", "--group", group, "--yes", *where)
    assert code == 0 and out.startswith(f"deleted 3 failure records of group {group} in ")
    left = sync_conn.execute(sq("SELECT error FROM {failures}", names)).fetchall()
    assert left == [("Timeout: after 30 s",)]
    code, out, _ = cli(capsys, "purge", "--group", group, "--yes", *where)
    assert code == 0 and out.startswith("nothing to purge")


# --- progress -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_long_enqueue_draws_progress_on_a_terminal(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any]
) -> None:
    code, drawn = on_a_terminal("enqueue", "bulk", "--count", "100000", *target(dsn, names))
    assert code == 0, drawn
    assert "enqueueing" in drawn and "/100000" in drawn
    assert "enqueued 100000 jobs for 'bulk'" in drawn
    count = sync_conn.execute(sq("SELECT count(*) FROM {jobs}", names)).fetchone()
    assert count == (100000,)


def test_an_upgrade_draws_progress_on_a_terminal_and_nothing_when_piped(
    dsn: str, names: ObjectNames
) -> None:
    code, drawn = on_a_terminal("upgrade", *target(dsn, names))
    already = f"pgqtop schema already at version {SCHEMA_VERSION}"
    assert code == 0 and "upgrading" in drawn and already in drawn

    piped = pgqtop("upgrade", *target(dsn, names))
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout.count("\n") == 1 and "upgrading" not in piped.stdout
