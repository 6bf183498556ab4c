"""Queue history against a real database: the leaderless sample (one per slot for the whole
fleet, counting due, scheduled and running jobs and the oldest wait), its spacing and pruning,
and what a console and `pgqtop history` read back."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.statements.worker import worker_statements
from pgqtop.db.worker import WorkerQueries
from tests.test_cli_admin import cli, target
from tests.test_schema import sq

LONG_SLOT = 1e7
"""A slot of about four months: two tries a moment apart fall in the same one."""
DAY = 86400.0


def history_sq(text: Any, names: ObjectNames) -> Any:
    return sq(text, names, history=names.history, samples=names.history_samples)


async def try_sample(
    queries: WorkerQueries, interval: float = LONG_SLOT, retention: float = DAY
) -> Any:
    return await queries.sample_history(
        uuid.uuid4(), interval=interval, retention_seconds=retention, cost_factor=50.0
    )


@pytest.fixture
async def fleet(dsn: str, names: ObjectNames) -> AsyncIterator[Callable[[], Any]]:
    """Worker queries on connections of their own, as separate workers would have."""
    opened: list[psycopg.AsyncConnection[Any]] = []

    async def connect() -> WorkerQueries:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        opened.append(conn)
        return WorkerQueries(conn, names)

    yield connect
    for conn in opened:
        await conn.close()


def history_rows(conn: psycopg.Connection[Any], names: ObjectNames) -> dict[str, tuple[Any, ...]]:
    found = conn.execute(
        history_sq(
            "SELECT entrypoint, due, scheduled, picked, oldest_due_seconds, paused"
            " FROM {history} ORDER BY entrypoint",
            names,
        )
    ).fetchall()
    return {row[0]: tuple(row[1:]) for row in found}


async def test_the_try_that_claims_a_slot_counts_the_queue_and_later_tries_do_nothing(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    fleet: Callable[[], Any],
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    await queries.enqueue(["a"] * 3)
    await queries.enqueue(["a"] * 2, execute_after=3600)  # scheduled, not due
    await queries.enqueue(["b", "b"])
    assert len(await worker_queries.dequeue({"b": 1}, 1, uuid.uuid4(), 0)) == 1
    await queries.pause(["c"])  # paused, no jobs: still in the sample, marked paused
    # Waiting since it was created 100 s ago; and one created long ago that only became due
    # 50 s ago (a retry): the oldest wait is 100 s, counted from when each job became due.
    sync_conn.execute(
        sq(
            "UPDATE {jobs} SET created = now() - interval '100 s',"
            " execute_after = now() - interval '100 s'"
            " WHERE id = (SELECT min(id) FROM {jobs} WHERE entrypoint = 'a')",
            names,
        )
    )
    sync_conn.execute(
        sq(
            "UPDATE {jobs} SET created = now() - interval '1000 s',"
            " execute_after = now() - interval '50 s'"
            " WHERE id = (SELECT min(id) + 1 FROM {jobs} WHERE entrypoint = 'a')",
            names,
        )
    )

    first, second = await fleet(), await fleet()
    won = await try_sample(first)
    lost = await try_sample(second)

    assert won.slot is not None and won.entrypoints == 3
    assert lost.slot is None and lost.entrypoints == 0
    rows = history_rows(sync_conn, names)
    assert set(rows) == {"a", "b", "c"}
    due, scheduled, picked, oldest, paused = rows["a"]
    assert (due, scheduled, picked, paused) == (3, 2, 0, False)
    assert 100 <= oldest < 130
    assert rows["b"] == (1, 0, 1, rows["b"][3], False) and rows["b"][3] < 30
    assert rows["c"] == (0, 0, 0, None, True)


async def test_many_workers_trying_at_once_take_the_slot_once(
    queries: ConsoleQueries, fleet: Callable[[], Any], names: ObjectNames, sync_conn: Any
) -> None:
    await queries.enqueue(["a"] * 5)
    workers = [await fleet() for _ in range(6)]

    claims = await asyncio.gather(*(try_sample(w) for w in workers))

    assert sum(c.slot is not None for c in claims) == 1
    assert sync_conn.execute(history_sq("SELECT count(*) FROM {samples}", names)).fetchone() == (1,)
    assert history_rows(sync_conn, names)["a"][0] == 5


async def test_a_sample_that_took_long_spaces_out_the_next(
    worker_queries: WorkerQueries, names: ObjectNames, sync_conn: psycopg.Connection[Any]
) -> None:
    # The last sample: five seconds ago, and it took a second to count. At 50 times its cost,
    # the next may come only 50 s after it, although the interval is one second.
    sync_conn.execute(
        history_sq(
            "INSERT INTO {samples} (slot, took_seconds)"
            " VALUES (date_trunc('second', now()) - interval '5 s', 1.0)",
            names,
        )
    )
    assert (await try_sample(worker_queries, interval=1.0)).slot is None

    sync_conn.execute(history_sq("UPDATE {samples} SET took_seconds = 0.01", names))
    claim = await try_sample(worker_queries, interval=1.0)
    assert claim.slot is not None

    await worker_queries.record_sample_cost(claim.slot, 0.25)
    took = sync_conn.execute(
        history_sq("SELECT took_seconds FROM {samples} WHERE slot = %s", names), (claim.slot,)
    ).fetchone()
    assert took == (0.25,)


async def test_the_sampler_prunes_samples_older_than_the_retention(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    await queries.enqueue("a")
    for age in ("2 days", "3 hours"):
        sync_conn.execute(
            history_sq(
                "WITH s AS (INSERT INTO {samples} (slot) VALUES (now() - %s::interval)"
                " RETURNING slot) INSERT INTO {history} (slot, entrypoint, due)"
                " SELECT slot, 'a', 1 FROM s",
                names,
            ),
            (age,),
        )

    claim = await try_sample(worker_queries, interval=1.0, retention=DAY)

    assert claim.pruned == 2  # the two-day-old sample and its one row
    left = sync_conn.execute(
        history_sq(
            "SELECT (SELECT count(*) FROM {samples}), (SELECT count(*) FROM {history})", names
        )
    ).fetchone()
    assert left == (2, 2)  # three hours ago, and now


async def test_a_try_that_does_not_claim_the_slot_never_reads_the_jobs_table(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    await queries.enqueue(["a"] * 10)
    statement = worker_statements(names).sample_history
    params = {
        "worker": uuid.uuid4(),
        "interval": LONG_SLOT,
        "retention_seconds": DAY,
        "cost_factor": 50.0,
    }

    def jobs_scans() -> list[int]:
        """The loops of every plan node reading the jobs table, one EXPLAIN ANALYZE run."""
        with sync_conn.transaction(force_rollback=True):
            found = sync_conn.execute(
                b"EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params
            ).fetchone()
        assert found is not None
        loops: list[int] = []

        def walk(node: dict[str, Any]) -> None:
            if node.get("Relation Name") == names.jobs:
                loops.append(node["Actual Loops"])
            for child in node.get("Plans", []):
                walk(child)

        walk(found[0][0]["Plan"])
        return loops

    claiming = jobs_scans()  # rolled back: the slot is still free afterwards
    assert claiming and all(n > 0 for n in claiming)
    await try_sample(worker_queries)
    losing = jobs_scans()
    assert losing and all(n == 0 for n in losing)


def insert_samples(
    conn: psycopg.Connection[Any], names: ObjectNames, samples: list[tuple[int, dict[str, int]]]
) -> None:
    """Samples `seconds ago` with the due counts of their entrypoints."""
    for ago, due in samples:
        slot = conn.execute(
            history_sq(
                "INSERT INTO {samples} (slot) VALUES"
                " (date_bin('10 s', now(), timestamptz '2000-01-01') - %s * interval '1 s')"
                " RETURNING slot",
                names,
            ),
            (ago,),
        ).fetchone()
        assert slot is not None
        for name, count in due.items():
            conn.execute(
                history_sq(
                    "INSERT INTO {history} (slot, entrypoint, due, paused) VALUES (%s, %s, %s, %s)",
                    names,
                ),
                (slot[0], name, count, name == "p"),
            )


async def test_a_console_reads_every_sample_or_the_peak_of_each_bucket(
    queries: ConsoleQueries, names: ObjectNames, sync_conn: psycopg.Connection[Any]
) -> None:
    insert_samples(
        sync_conn, names, [(40, {"a": 5, "b": 1}), (30, {"a": 9}), (20, {}), (10, {"a": 2})]
    )

    every = await queries.queue_history(300)
    assert [{n: p.due for n, p in s.entrypoints.items()} for s in every] == [
        {"a": 5, "b": 1},
        {"a": 9},
        {},  # a sample of an empty queue, not a gap
        {"a": 2},
    ]
    named = await queries.queue_history(300, entrypoint="b")
    assert [s.entrypoints["b"].due for s in named] == [1, 0, 0, 0]
    assert [s.total().due for s in await queries.queue_history(300, bucket=3600)] == [9 + 1]
    assert await queries.queue_history(5) == []


def test_history_command_prints_samples_as_json_and_peaks_as_a_table(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    insert_samples(sync_conn, names, [(30, {"a": 4, "p": 2}), (10, {"a": 6})])

    code, out, _ = cli(capsys, "history", "--json", "--since", "5m", *target(dsn, names))
    assert code == 0
    samples = json.loads(out)
    assert [(s["due"], s["scheduled"], s["picked"], s["paused"]) for s in samples] == [
        (6, 0, 0, False),
        (6, 0, 0, False),
    ]
    assert samples[0]["entrypoints"]["p"] == {
        "due": 2,
        "scheduled": 0,
        "picked": 0,
        "oldest_due_seconds": None,
        "paused": True,
    }
    assert all(set(s) >= {"at", "entrypoints", "oldest_due_seconds"} for s in samples)

    code, out, _ = cli(capsys, "history", "p", "--json", *target(dsn, names))
    assert [(s["due"], s["paused"]) for s in json.loads(out)] == [(2, True), (0, False)]

    code, out, _ = cli(capsys, "history", "a", *target(dsn, names))
    lines = out.splitlines()
    assert code == 0 and "peak of every 1m00s" in lines[0]
    assert lines[1].split() == ["TIME", "DUE", "SCHEDULED", "PICKED", "OLDEST", "DUE", "PAUSED"]
    assert max(int(line.split()[2]) for line in lines[2:]) == 6


def test_history_command_says_when_nothing_was_sampled(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    code, out, _ = cli(capsys, "history", *target(dsn, names))
    assert code == 0 and out.startswith("no queue history for the last 1h00m")
