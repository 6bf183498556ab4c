"""The current schema from real older installs (the SQL versions 2, 3 and 4 printed, frozen
under tests/fixtures): jobs and failures survive the upgrade, the new tables and columns
appear, verify is clean; and an older pgqtop refuses a newer schema with one line."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from pgqtop.db import schema
from pgqtop.db.worker import WorkerQueries
from pgqtop.model.fingerprint import error_pattern
from tests.test_cli_admin import cli, pgqtop, target
from tests.test_schema import sq

FIXTURES = Path(__file__).parent / "fixtures"
FROZEN = {
    2: ("schema_v2.sql", "frozenvtwo"),
    3: ("schema_v3.sql", "frozenvthree"),
    4: ("schema_v4.sql", "frozenvfour"),
}
NOW = schema.SCHEMA_VERSION


def frozen_install(dsn: str, version: int) -> ObjectNames:
    """A fresh prefix with an older version installed from its frozen SQL."""
    file, prefix = FROZEN[version]
    names = ObjectNames(f"v{uuid.uuid4().hex[:12]}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((FIXTURES / file).read_text(encoding="utf-8").replace(prefix, names.prefix))
    return names


@pytest.fixture
def v2_names(dsn: str) -> Iterator[ObjectNames]:
    """A fresh prefix with version 2 installed from the frozen SQL; dropped afterwards."""
    names = frozen_install(dsn, 2)
    yield names
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.uninstall(conn, names)


@pytest.fixture
def v3_names(dsn: str) -> Iterator[ObjectNames]:
    """A fresh prefix with version 3 installed from the frozen SQL; dropped afterwards."""
    names = frozen_install(dsn, 3)
    yield names
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.uninstall(conn, names)


def test_the_frozen_install_is_version_2_without_what_3_adds(
    sync_conn: psycopg.Connection[Any], v2_names: ObjectNames
) -> None:
    assert schema.installed_version(sync_conn, v2_names) == 2
    problems = schema.verify(sync_conn, v2_names)
    assert f"table {v2_names.history!r} is missing" in problems
    assert f"table {v2_names.audit!r} is missing" in problems
    assert f"column {v2_names.failures}.error_pattern is missing" in problems


def test_upgrade_from_version_2_keeps_the_jobs_and_adds_what_3_needs(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    sync_conn: psycopg.Connection[Any],
    v2_names: ObjectNames,
) -> None:
    names = v2_names
    sync_conn.execute(
        sq(
            "INSERT INTO {jobs} (entrypoint, payload, priority, execute_after)"
            " VALUES ('mail', 'a', 1, now()), ('mail', 'b', 2, now() + interval '1 hour'),"
            " ('sms', NULL, 0, now())",
            names,
        )
    )
    sync_conn.execute(
        sq(
            "INSERT INTO {failures} (job_id, entrypoint, error) VALUES"
            " (1, 'charge', 'app.Declined: card 4242 for order 7'),"
            " (2, 'charge', 'app.Declined: card 1111 for order 9')",
            names,
        )
    )
    sync_conn.execute(sq("INSERT INTO {control} (entrypoint, reason) VALUES ('sms', 'r')", names))
    before = sync_conn.execute(
        sq("SELECT id, entrypoint, payload, priority, execute_after FROM {jobs} ORDER BY id", names)
    ).fetchall()

    # Version 3 refuses the old schema with one line that names the fix...
    code, out, err = cli(capsys, "status", *target(dsn, names))
    assert (code, out) == (4, "")
    assert err == (
        f"pgqtop: error: pgqtop schema is version 2, this pgqtop needs {NOW}: "
        "run `pgqtop upgrade`\n"
    )
    # ...which brings it forward, quietly when output is not a terminal.
    upgraded = pgqtop("upgrade", *target(dsn, names))
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith(f"pgqtop schema upgraded from version 2 to {NOW} in ")
    assert upgraded.stdout.count("\n") == 1 and upgraded.stderr == ""

    assert schema.installed_version(sync_conn, names) == NOW
    assert schema.verify(sync_conn, names) == []
    after = sync_conn.execute(
        sq("SELECT id, entrypoint, payload, priority, execute_after FROM {jobs} ORDER BY id", names)
    ).fetchall()
    assert after == before
    patterns = sync_conn.execute(
        sq("SELECT error, error_pattern FROM {failures} ORDER BY id", names)
    ).fetchall()
    assert [p for _, p in patterns] == [error_pattern(e) for e, _ in patterns]
    assert len({p for _, p in patterns}) == 1
    code, out, _ = cli(capsys, "status", *target(dsn, names))
    assert code == 0 and "paused by" in out


async def test_after_the_upgrade_the_old_jobs_are_worked_and_history_is_sampled(
    aconn: psycopg.AsyncConnection[Any], sync_conn: psycopg.Connection[Any], v2_names: ObjectNames
) -> None:
    sync_conn.execute(sq("INSERT INTO {jobs} (entrypoint) VALUES ('old'), ('old')", v2_names))
    schema.upgrade(sync_conn, v2_names)
    worker = WorkerQueries(aconn, v2_names)

    assert len(await worker.dequeue({"old": 5}, 5, uuid.uuid4(), 0)) == 2
    claim = await worker.sample_history(
        uuid.uuid4(), interval=10.0, retention_seconds=3600, cost_factor=50
    )
    assert claim.slot is not None and claim.entrypoints == 1


@pytest.mark.parametrize(
    "argv",
    [
        ("--headless", "--factory", "tests.engine.jobs_factory:register"),
        (),  # the console
        ("status",),
    ],
)
def test_an_older_pgqtop_refuses_a_newer_schema_with_one_line(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
) -> None:
    monkeypatch.setattr(schema, "SCHEMA_VERSION", NOW - 1)  # what the last version carries
    code, out, err = cli(capsys, *argv, *target(dsn, names))
    assert (code, out) == (4, "")
    assert err == (
        f"pgqtop: error: pgqtop schema is version {NOW}, newer than this pgqtop ({NOW - 1}): "
        "upgrade the pgqtop package\n"
    )


def test_the_frozen_version_3_lacks_the_claims_table(
    sync_conn: psycopg.Connection[Any], v3_names: ObjectNames
) -> None:
    assert schema.installed_version(sync_conn, v3_names) == 3
    assert f"table {v3_names.claims!r} is missing" in schema.verify(sync_conn, v3_names)


async def test_upgrade_from_version_3_keeps_waiting_and_running_jobs_and_lanes_work(
    aconn: psycopg.AsyncConnection[Any], sync_conn: psycopg.Connection[Any], v3_names: ObjectNames
) -> None:
    """A version-3 queue with a job waiting and one picked by a running worker: both are
    there after the upgrade, and a lock-held take works on the upgraded tables."""
    names = v3_names
    holder = uuid.uuid4()
    sync_conn.execute(
        sq(
            "INSERT INTO {jobs} (entrypoint, payload) VALUES ('old', 'waiting'), ('old', 'run')",
            names,
        )
    )
    sync_conn.execute(
        sq(
            "UPDATE {jobs} SET status = 'picked', worker_id = %s, attempts = 1"
            " WHERE payload = 'run'",
            names,
        ),
        (holder,),
    )
    sync_conn.execute(
        sq(
            "INSERT INTO {finished} (job_id, entrypoint, priority, status, attempts, created,"
            " execute_after, picked, run_seconds) VALUES (1, 'old', 0, 'successful', 1, now(),"
            " now(), now(), 0.5)",
            names,
        )
    )
    before = sync_conn.execute(
        sq("SELECT id, status::text, worker_id, attempts FROM {jobs} ORDER BY id", names)
    ).fetchall()

    assert schema.upgrade(sync_conn, names) == 3
    assert schema.installed_version(sync_conn, names) == NOW
    assert schema.verify(sync_conn, names) == []
    after = sync_conn.execute(
        sq("SELECT id, status::text, worker_id, attempts FROM {jobs} ORDER BY id", names)
    ).fetchall()
    assert after == before
    # Finished jobs' ends move out of the WAL, and keep what they had.
    persistence = sync_conn.execute(
        "SELECT relname, relpersistence FROM pg_class WHERE relname = ANY(%s) ORDER BY 1",
        ([names.finished, names.claims],),
    ).fetchall()
    assert persistence == [(names.claims, "p"), (names.finished, "u")]
    kept = sync_conn.execute(sq("SELECT job_id, run_seconds FROM {finished}", names)).fetchall()
    assert kept == [(1, 0.5)]

    worker = WorkerQueries(aconn, names)
    taken = await worker.claim_held({"old": 5}, 5, uuid.uuid4())
    assert [(job.text(), lost) for job, lost in taken] == [("waiting", 0)]
    await worker.rollback()


def test_upgrade_from_version_4_keeps_registered_workers_and_says_how_they_wake(
    sync_conn: psycopg.Connection[Any], dsn: str
) -> None:
    """Version 5 adds how new work reaches each worker (engine/seats.py); a worker registered
    before the upgrade keeps its row and reads as listening, which is what it did."""
    names = frozen_install(dsn, 4)
    try:
        assert schema.installed_version(sync_conn, names) == 4
        sync_conn.execute(
            sq("INSERT INTO {workers} (id, host, pid) VALUES (%s, 'old-host', 7)", names),
            (uuid.uuid4(),),
        )
        assert schema.upgrade(sync_conn, names) == 4
        assert schema.verify(sync_conn, names) == []
        rows = sync_conn.execute(sq("SELECT host, pid, wake FROM {workers}", names)).fetchall()
        assert rows == [("old-host", 7, "listen")]
    finally:
        schema.uninstall(sync_conn, names)
