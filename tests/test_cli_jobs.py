"""`pgqtop enqueue | status | purge`: what they write, what they show, what they refuse."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import WorkerIdentity
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from tests.test_cli_admin import cli, pgqtop, target
from tests.test_schema import sq


def jobs_table(conn: psycopg.Connection[Any], names: ObjectNames) -> list[tuple[Any, ...]]:
    return conn.execute(
        sq(
            "SELECT entrypoint, payload, priority, headers, dedupe_key,"
            " execute_after > now() + interval '50 seconds' FROM {jobs} ORDER BY id",
            names,
        )
    ).fetchall()


@pytest.fixture
def listener(dsn: str, names: ObjectNames) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sq("LISTEN {channel}", names))
        yield conn


def test_enqueue_writes_payload_priority_delay_dedupe_key_and_headers(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    code, out, _ = cli(
        capsys,
        "enqueue",
        "mail",
        "--payload",
        "héllo",
        "--priority",
        "4",
        "--after",
        "60",
        "--dedupe-key",
        "m-1",
        "--header",
        "trace=abc",
        "--header",
        "tenant=a=b",
        *target(dsn, names),
    )
    assert code == 0 and out.strip().isdigit()
    assert jobs_table(sync_conn, names) == [
        ("mail", "héllo".encode(), 4, {"trace": "abc", "tenant": "a=b"}, "m-1", True)
    ]


def test_enqueue_count_is_one_statement_and_prints_a_range(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
    listener: psycopg.Connection[Any],
) -> None:
    code, out, _ = cli(capsys, "enqueue", "many", "--count", "500", *target(dsn, names))
    assert code == 0 and out.startswith("enqueued 500 jobs for 'many' (ids ")
    assert len(jobs_table(sync_conn, names)) == 500
    listener.execute("SELECT 1")
    events = [json.loads(n.payload) for n in listener.notifies(timeout=0.2)]
    # One statement, so the statement-level trigger fired once for all 500 rows; the same
    # statement recorded the operator's enqueue in the audit trail and announced that.
    assert [e for e in events if e["op"] != "audit"] == [
        {"op": "insert", "changes": {"many": {"queued": 500}}}
    ]
    assert [(e["action"], e["count"]) for e in events if e["op"] == "audit"] == [("enqueue", 500)]


def test_enqueue_reads_the_payload_from_a_file_and_from_stdin(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    source = tmp_path / "payload.bin"
    source.write_bytes(b"\x00\x01binary")
    from_file = pgqtop("enqueue", "f", "--payload-file", str(source), *target(dsn, names))
    from_stdin = pgqtop("enqueue", "s", "--payload-file", "-", *target(dsn, names), stdin=b"{}")
    assert from_file.returncode == 0 and from_stdin.returncode == 0
    assert [(r[0], r[1]) for r in jobs_table(sync_conn, names)] == [
        ("f", b"\x00\x01binary"),
        ("s", b"{}"),
    ]


def test_enqueue_dedupe_policies_from_the_command_line(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    where = target(dsn, names)
    assert cli(capsys, "enqueue", "d", "--dedupe-key", "k", *where)[0] == 0
    code, _, err = cli(capsys, "enqueue", "d", "--dedupe-key", "k", *where)
    assert code == 1 and "already queued or running" in err
    code, out, _ = cli(
        capsys, "enqueue", "d", "--dedupe-key", "k", "--on-duplicate", "skip", *where
    )
    assert code == 0 and out.startswith("skipped")
    code, _, _ = cli(
        capsys,
        "enqueue",
        "d",
        "--dedupe-key",
        "k",
        "--priority",
        "8",
        "--on-duplicate",
        "keep-higher-priority",
        *where,
    )
    assert code == 0
    assert [(r[2], r[4]) for r in jobs_table(sync_conn, names)] == [(8, "k")]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--count", "0"], "--count must be at least 1"),
        (["--after", "-5"], "--after must not be negative"),
        (["--header", "novalue"], "malformed header"),
        (["--payload-file", "/nonexistent/payload"], "cannot read payload"),
    ],
)
def test_enqueue_bad_input_is_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
    arguments: list[str],
    message: str,
) -> None:
    code, out, err = cli(capsys, "enqueue", "bad", *arguments, *target(dsn, names))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err
    assert jobs_table(sync_conn, names) == []


def test_enqueue_refuses_a_payload_above_the_maximum(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    huge = tmp_path / "huge.bin"
    huge.write_bytes(b"x" * (1024 * 1024 + 1))
    result = pgqtop("enqueue", "big", "--payload-file", str(huge), *target(dsn, names))
    assert result.returncode == 2
    assert "larger than the maximum" in result.stderr and result.stderr.count("\n") == 1
    assert jobs_table(sync_conn, names) == []


def test_enqueue_refuses_the_reserved_all_entrypoints_key(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    code, _, err = cli(capsys, "enqueue", "*", *target(dsn, names))
    assert code == 2 and "invalid entrypoint" in err


def test_entrypoint_names_with_quotes_and_sql_are_stored_verbatim(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    odd = 'x\'); DROP TABLE users; -- ünï "q"'
    assert cli(capsys, "enqueue", odd, "--payload", odd, *target(dsn, names))[0] == 0
    assert [(r[0], r[1]) for r in jobs_table(sync_conn, names)] == [(odd, odd.encode())]
    code, out, _ = cli(capsys, "status", "--json", *target(dsn, names))
    assert code == 0 and json.loads(out)["entrypoints"][0]["entrypoint"] == odd


async def _activity(queries: ConsoleQueries) -> None:
    """Queue state: 'a' has 3 waiting, 1 running, 2 done and 1 failed; 'b' 1 waiting."""
    worker = uuid.uuid4()
    worker_queries = WorkerQueries(queries.conn, queries.names)
    await queries.enqueue(["a"] * 7 + ["b"])
    jobs = await worker_queries.dequeue({"a": 4}, 10, worker, 0)
    await worker_queries.complete(
        [
            Outcome(jobs[0].id, Status.SUCCESSFUL, 0.1),
            Outcome(jobs[1].id, Status.SUCCESSFUL, 0.1),
            Outcome(jobs[2].id, Status.EXCEPTION, 0.1, "boom", "tb"),
        ],
        worker,
    )
    await queries.pause(["b"], seconds=600, by="ops@host", reason="db migration")


async def test_status_shows_every_entrypoint_as_table_and_json(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames, queries: ConsoleQueries
) -> None:
    await _activity(queries)
    # The CLI runs its own event loop: call it from a worker thread.
    code, out, _ = await asyncio.to_thread(cli, capsys, "status", "--json", *target(dsn, names))
    assert code == 0
    data = json.loads(out)
    by_name = {e["entrypoint"]: e for e in data["entrypoints"]}
    a, b = by_name["a"], by_name["b"]
    assert (a["queued"], a["picked"], a["completed_last_minute"], a["failed_last_hour"]) == (
        3,
        1,
        3,
        1,
    )
    assert a["paused"] is None and a["oldest_queued_seconds"] >= 0
    assert b["queued"] == 1
    assert b["paused"]["by"] == "ops@host" and b["paused"]["reason"] == "db migration"
    assert b["paused"]["until"] is not None and data["paused_all"] is None

    code, out, _ = await asyncio.to_thread(cli, capsys, "status", *target(dsn, names))
    lines = out.splitlines()
    assert lines[0].split() == [
        "ENTRYPOINT",
        "DUE",
        "SCHEDULED",
        "PICKED",
        "FAILED/1h",
        "OLDEST",
        "DONE/1m",
        "FORECAST",
        "PAUSED",
    ]
    assert lines[1].split()[:5] == ["a", "3", "0", "1", "1"]
    assert "paused by ops@host until" in lines[2] and "db migration" in lines[2]


async def test_a_delayed_job_is_scheduled_not_due_everywhere_status_looks(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames, queries: ConsoleQueries
) -> None:
    args = target(dsn, names)
    code, out, _ = await asyncio.to_thread(
        cli, capsys, "enqueue", "charge", "--after", "3600", *args
    )
    assert code == 0
    later = int(out)
    await queries.enqueue(["charge"])
    code, out, _ = await asyncio.to_thread(cli, capsys, "status", "--json", *args)
    (charge,) = json.loads(out)["entrypoints"]
    assert (charge["queued"], charge["scheduled"]) == (1, 1)
    assert 3500 < charge["next_due_seconds"] <= 3600
    assert charge["oldest_queued_seconds"] < 60, "measured over the due job only"
    await queries.conn.execute(sq("DELETE FROM {jobs} WHERE id <> %s", names), (later,))
    code, out, _ = await asyncio.to_thread(cli, capsys, "status", "--json", *args)
    (charge,) = json.loads(out)["entrypoints"]
    assert (charge["queued"], charge["scheduled"], charge["oldest_queued_seconds"]) == (0, 1, None)
    assert charge["forecast"] == {
        "trend": "empty",
        "net_rate_per_second": None,
        "clears_in_seconds": None,
    }
    code, out, _ = await asyncio.to_thread(cli, capsys, "status", *args)
    row = out.splitlines()[1].split()
    assert row[:4] == ["charge", "0", "1", "(in"] and row[4].startswith("59m")
    assert row[9] == "empty"
    code, out, _ = await asyncio.to_thread(cli, capsys, "job", str(later), "--json", *args)
    assert code == 0
    assert json.loads(out)["status"] == "scheduled"


async def test_status_forecasts_a_drain_from_the_workers_history_samples(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames, queries: ConsoleQueries
) -> None:
    # 30 due jobs now; the samples of the last minute saw 90, 80, ... 40: 1 job a second.
    await queries.enqueue(["mail"] * 30)
    tables = {"samples": names.history_samples, "history": names.history}
    for ago, due in ((60, 90), (50, 80), (40, 70), (30, 60), (20, 50), (10, 40)):
        await queries.conn.execute(
            sq(
                "WITH slot AS (SELECT now() - make_interval(secs => %(ago)s) AS at),"
                " sample AS (INSERT INTO {samples} (slot) SELECT at FROM slot)"
                " INSERT INTO {history} (slot, entrypoint, due) SELECT at, 'mail', %(due)s"
                " FROM slot",
                names,
                **tables,
            ),
            {"ago": ago, "due": due},
        )
    code, out, _ = await asyncio.to_thread(cli, capsys, "status", "--json", *target(dsn, names))
    (mail,) = json.loads(out)["entrypoints"]
    assert mail["forecast"]["trend"] == "clearing"
    assert mail["forecast"]["net_rate_per_second"] == pytest.approx(-1.0, abs=0.05)
    assert mail["forecast"]["clears_in_seconds"] == pytest.approx(30.0, abs=2.0)
    code, out, _ = await asyncio.to_thread(cli, capsys, "status", *target(dsn, names))
    assert code == 0
    assert re.search(r"clears in ~(29|30|31)s", out.splitlines()[1])


def test_status_of_an_empty_queue_says_so(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    code, out, _ = cli(capsys, "status", *target(dsn, names))
    assert code == 0 and out.startswith("no jobs and no recent activity")


def test_purge_counts_asks_and_deletes_only_with_yes(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    where = target(dsn, names)
    cli(capsys, "enqueue", "a", "--count", "3", *where)
    cli(capsys, "enqueue", "b", "--count", "2", *where)

    refused = pgqtop("purge", "a", *where)
    assert refused.returncode == 2 and "delete 3 queued jobs of 'a'" in refused.stderr
    assert len(jobs_table(sync_conn, names)) == 5

    code, out, _ = cli(capsys, "purge", "a", "--yes", *where)
    assert code == 0 and out.strip() == "purged 3 queued jobs of 'a'"
    assert [r[0] for r in jobs_table(sync_conn, names)] == ["b", "b"]

    code, out, _ = cli(capsys, "purge", "a", "--yes", *where)
    assert code == 0 and out.startswith("nothing to purge")


def test_purge_refuses_an_unknown_status(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    code, out, err = cli(capsys, "purge", "--status", "exploded", "--yes", *target(dsn, names))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "cannot purge status 'exploded'" in err


async def test_enqueue_warns_when_no_live_worker_declares_the_entrypoint(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
) -> None:
    live = WorkerIdentity(uuid.uuid4(), "host-a", 101, "0.1.0", ["charge"], 5)
    gone = WorkerIdentity(uuid.uuid4(), "host-b", 202, "0.1.0", ["refund"], 5)
    await worker_queries.heartbeat(live, [], in_flight=0, processed=0, failed=0)
    await worker_queries.heartbeat(gone, [], in_flight=0, processed=0, failed=0)
    sync_conn.execute(
        sq("UPDATE {workers} SET heartbeat = now() - interval '5 minutes' WHERE pid = 202", names)
    )
    args = target(dsn, names)
    for name, warned in (("charge", False), ("chrage", True), ("refund", True)):
        code, out, err = await asyncio.to_thread(cli, capsys, "enqueue", name, *args)
        assert code == 0 and out.strip().isdigit(), "the job is accepted all the same"
        assert (f"no live worker declares {name!r}" in err) is warned, err
        assert len(err.splitlines()) == int(warned)
