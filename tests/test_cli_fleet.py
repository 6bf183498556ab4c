"""`pgqtop pause | resume | workers`: fleet-wide state in the control and workers tables."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import WorkerIdentity
from pgqtop.db.worker import WorkerQueries
from tests.test_cli_admin import cli, target
from tests.test_schema import sq


def control_rows(conn: psycopg.Connection[Any], names: ObjectNames) -> list[tuple[Any, ...]]:
    return conn.execute(
        sq(
            "SELECT entrypoint, paused_by, reason, round(extract(epoch FROM"
            " paused_until - paused_at)) FROM {control} ORDER BY entrypoint",
            names,
        )
    ).fetchall()


def test_pause_records_who_why_and_until_and_resume_lifts_it(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    where = target(dsn, names)
    cli(capsys, "enqueue", "mail", *where)

    code, out, err = cli(capsys, "pause", "mail", "--for", "15m", "--reason", "smtp down", *where)
    assert code == 0 and err == "" and out.startswith("paused 'mail' for 15m00s by ")
    [(entrypoint, by, reason, seconds)] = control_rows(sync_conn, names)
    assert (entrypoint, reason, seconds) == ("mail", "smtp down", 900)
    assert "@" in by

    code, out, _ = cli(capsys, "resume", "mail", *where)
    assert code == 0 and out.startswith("resumed 'mail'")
    assert control_rows(sync_conn, names) == []


def test_pausing_an_unknown_entrypoint_warns_but_pauses(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    code, _, err = cli(capsys, "pause", "not-yet", *target(dsn, names))
    assert code == 0
    assert err.startswith("pgqtop: warning:") and err.count("\n") == 1
    assert [r[0] for r in control_rows(sync_conn, names)] == ["not-yet"]


def test_resuming_what_is_not_paused_fails_with_a_message(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    code, out, err = cli(capsys, "resume", "mail", *target(dsn, names))
    assert code == 1 and out == ""
    assert err.strip() == "pgqtop: error: 'mail' is not paused: nothing to resume"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pause"], "name an entrypoint, or use --all"),
        (["pause", "x", "--all"], "not both"),
        (["pause", "*"], "use --all"),
        (["pause", "x", "--for", "soon"], "malformed duration"),
        (["resume"], "name an entrypoint, or use --all"),
    ],
)
def test_fleet_bad_input_is_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
    argv: list[str],
    message: str,
) -> None:
    code, out, err = cli(capsys, *argv, *target(dsn, names))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err
    assert control_rows(sync_conn, names) == []


async def test_pause_all_stops_every_entrypoint_until_resume_all(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
) -> None:
    where = target(dsn, names)
    await queries.enqueue(["a", "b"])
    await queries.pause(["b"], seconds=0.01)  # an expired row resume --all also clears
    await asyncio.to_thread(cli, capsys, "pause", "b", *where)
    code, _, _ = await asyncio.to_thread(
        cli, capsys, "pause", "--all", "--reason", "deploy", *where
    )
    assert code == 0
    assert await worker_queries.dequeue({"a": 10, "b": 10}, 10, uuid.uuid4(), 0) == []

    code, out, err = await asyncio.to_thread(cli, capsys, "resume", "b", *where)
    assert code == 0 and "still paused by `pause --all`" in err
    code, out, _ = await asyncio.to_thread(cli, capsys, "status", *where)
    assert out.startswith("EVERY ENTRYPOINT IS paused by ") and "deploy" in out

    code, out, _ = await asyncio.to_thread(cli, capsys, "resume", "--all", *where)
    assert code == 0 and out.startswith("resumed 1 paused entrypoint(s)")
    assert control_rows(sync_conn, names) == []
    assert len(await worker_queries.dequeue({"a": 10, "b": 10}, 10, uuid.uuid4(), 0)) == 2


async def test_pause_and_resume_are_announced_on_the_channel(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as listener:
        await listener.execute(sq("LISTEN {channel}", names))
        await asyncio.to_thread(cli, capsys, "pause", "x", *target(dsn, names))
        await asyncio.to_thread(cli, capsys, "resume", "--all", *target(dsn, names))
        events = []
        async for note in listener.notifies(timeout=0.5, stop_after=4):
            events.append(json.loads(note.payload))
    # Each action also announces its audit entry (op `audit`), after the control event.
    assert [e for e in events if e["op"] != "audit"] == [
        {"op": "pause", "entrypoints": ["x"]},
        {"op": "resume", "entrypoints": ["x"]},
    ]
    assert [(e["action"], e["target"], e["count"]) for e in events if e["op"] == "audit"] == [
        ("pause", "x", 1),
        ("resume", "*", 1),
    ]


async def test_workers_lists_registered_workers_and_marks_stale_ones(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
) -> None:
    fresh = WorkerIdentity(uuid.uuid4(), "host-a", 101, "0.1.0", ["mail", "sms"], 50)
    stale = WorkerIdentity(uuid.uuid4(), "host-b", 202, "0.1.0", ["mail"], 10)
    await worker_queries.heartbeat(fresh, [], in_flight=3, processed=40, failed=1)
    await worker_queries.heartbeat(stale, [], in_flight=0, processed=7, failed=0)
    sync_conn.execute(
        sq("UPDATE {workers} SET heartbeat = now() - interval '5 minutes' WHERE pid = 202", names)
    )

    code, out, _ = await asyncio.to_thread(cli, capsys, "workers", "--json", *target(dsn, names))
    assert code == 0
    listed = {w["host"]: w for w in json.loads(out)["workers"]}
    assert listed["host-a"]["stale"] is False and listed["host-a"]["in_flight"] == 3
    assert listed["host-a"]["entrypoints"] == ["mail", "sms"]
    assert listed["host-b"]["stale"] is True and listed["host-b"]["heartbeat_age"] >= 300

    code, out, _ = await asyncio.to_thread(cli, capsys, "workers", *target(dsn, names))
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["WORKER", "HOST", "PID"]
    assert lines[1].split()[-1] == "running" and lines[2].split()[-1] == "stale"


def test_no_workers_is_said_plainly(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    code, out, _ = cli(capsys, "workers", *target(dsn, names))
    assert code == 0 and out.startswith("no workers registered")


async def test_workers_json_lists_the_jobs_each_worker_holds_and_its_longest(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
) -> None:
    busy = WorkerIdentity(uuid.uuid4(), "host-a", 101, "0.1.0", ["mail"], 50)
    idle = WorkerIdentity(uuid.uuid4(), "host-b", 202, "0.1.0", ["mail"], 10)
    for me in (busy, idle):
        await worker_queries.heartbeat(me, [], in_flight=0, processed=0, failed=0)
    ids = await queries.enqueue(["mail"] * 3)
    await worker_queries.dequeue({"mail": 2}, 2, busy.id, 0)
    # The first job was picked two minutes ago.
    sync_conn.execute(
        sq("UPDATE {jobs} SET updated = now() - interval '2 minutes' WHERE id = %s", names),
        (ids[0],),
    )

    code, out, _ = await asyncio.to_thread(cli, capsys, "workers", "--json", *target(dsn, names))

    assert code == 0
    listed = {w["host"]: w for w in json.loads(out)["workers"]}
    a, b = listed["host-a"], listed["host-b"]
    assert a["short_id"] == busy.id.hex[:8] and b["short_id"] == idle.id.hex[:8]
    assert [j["id"] for j in a["in_flight_jobs"]] == ids[:2]
    assert all(j["entrypoint"] == "mail" and j["started"] for j in a["in_flight_jobs"])
    assert 120 <= a["longest_running_seconds"] < 180
    assert a["in_flight_jobs"][0]["running_seconds"] == a["longest_running_seconds"]
    assert (b["in_flight_jobs"], b["longest_running_seconds"]) == ([], None)

    code, out, _ = await asyncio.to_thread(cli, capsys, "workers", *target(dsn, names))
    header, *rows = out.splitlines()
    column = header.index("LONGEST")  # text columns are left-aligned under their header
    by_host = {row.split()[1]: row for row in rows}
    assert by_host["host-a"].split()[0] == busy.id.hex[:8]
    assert by_host["host-a"][column:].split()[0].startswith("2m")
    assert by_host["host-b"][column:].split()[0] == "-"
