"""Nobody let in: no SQL built from strings, no password shown, least-privilege roles hold."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqtop import operations
from pgqtop.config import ObjectNames, Settings
from pgqtop.db import schema
from pgqtop.db.connection import connect_async
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.grants import grant_statements
from pgqtop.db.producer import Queries
from pgqtop.db.rows import WorkerIdentity
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.control import HistorySampler
from pgqtop.model import NewJob, OnDuplicate, Outcome, Status
from tests.test_cli_admin import cli, target

PACKAGE = Path(__file__).resolve().parent.parent / "pgqtop"

_KEYWORDS = (
    r"(?:SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|GRANT|REVOKE|WITH|LISTEN|NOTIFY|COPY"
    r"|TRUNCATE)"
)
STRING_BUILT_SQL = re.compile(
    "|".join(
        (
            # an f-string handed straight to execute() or sql.SQL()
            r"""(?:execute|executemany|SQL|copy)\(\s*[rb]?f["']""",
            # an f-string that starts like a statement
            rf"""\b[rb]?f["']{{1,3}}\s*{_KEYWORDS}\b""",
            # "... SELECT ..." % values  /  "... SELECT ...".format(values)
            rf"""["'][^"'\n]*\b{_KEYWORDS}\b[^"'\n]*["']\s*(?:%\s*[\w(\[]|\.format\()""",
        )
    )
)


def string_built_sql(text: str) -> list[str]:
    return [match.group(0) for match in STRING_BUILT_SQL.finditer(text)]


@pytest.mark.parametrize(
    "bad",
    [
        'conn.execute(f"SELECT * FROM t WHERE id = {job_id}")',
        "cur.execute(\n    f'DELETE FROM jobs WHERE entrypoint = {name}')",
        'query = f"UPDATE jobs SET priority = {p}"',
        'query = "SELECT * FROM jobs WHERE id = %s" % job_id',
        'query = "INSERT INTO {} VALUES ({})".format(table, value)',
        'sql.SQL(f"DROP TABLE {name}")',
    ],
)
def test_the_scanner_recognises_string_built_sql(bad: str) -> None:
    assert string_built_sql(bad)


@pytest.mark.parametrize(
    "good",
    [
        'conn.execute(sql.SQL("SELECT * FROM {} WHERE id = %s").format(ident), (job_id,))',
        'print(f"delete {count} jobs?")',
        'cur.execute("SELECT 1 WHERE %(x)s", {"x": 1})',
    ],
)
def test_the_scanner_accepts_parameterised_sql(good: str) -> None:
    assert not string_built_sql(good)


def test_no_sql_in_the_package_is_built_with_f_strings_or_percent_formatting() -> None:
    found = {
        str(path.relative_to(PACKAGE.parent)): hits
        for path in sorted(PACKAGE.rglob("*.py"))
        if (hits := string_built_sql(path.read_text(encoding="utf-8")))
    }
    assert found == {}


# --- passwords ----------------------------------------------------------------------------------


def test_a_password_in_the_dsn_never_reaches_any_output(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    secret = "secret-pw"
    with_password = psycopg.conninfo.make_conninfo(dsn, password=secret)
    where = ["--dsn", with_password, "--prefix", names.prefix]
    missing_db = psycopg.conninfo.make_conninfo(with_password, dbname="pgqtop_no_such_db")
    runs = [
        ["install", *where],
        ["verify", *where],
        ["enqueue", "a", "--payload", "p", *where],
        ["status", *where],
        ["status", "--json", *where],
        ["pause", "a", "--reason", "r", *where],
        ["workers", "--json", *where],
        ["resume", "a", *where],
        ["resume", "a", *where],  # fails: not paused
        ["purge", "--yes", *where],
        ["history", "--json", *where],
        ["failures", "--group", *where],
        ["requeue", "--failures-of", "a", "--yes", *where],
        ["cancel", "1", "--yes", *where],
        ["audit", "--json", *where],
        ["status", "--dsn", missing_db],
        ["status", "--dsn", with_password.replace("5432", "1")],
        ["status", "--dsn", f"postgresql://postgres:{secret}@127.0.0.1:nope/test"],
    ]
    for argv in runs:
        code, out, err = cli(capsys, *argv)
        assert secret not in out and secret not in err, argv
    assert code == 3  # the last run really failed, with its message checked above


# --- least privilege ----------------------------------------------------------------------------


@pytest.fixture
def make_role(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> Iterator[Callable[[str], str]]:
    """Create roles holding exactly the printed grants of a purpose; dropped afterwards."""
    created: list[str] = []

    def make(purpose: str) -> str:
        # Quotes and spaces in the name prove every grant quotes it as an identifier.
        role = f'pgqtop {purpose} "{uuid.uuid4().hex[:8]}"'
        sync_conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        created.append(role)
        for statement in grant_statements(names, role, purpose):
            sync_conn.execute(statement)
        return role

    yield make
    for role in created:
        sync_conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        sync_conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@dataclasses.dataclass(frozen=True)
class RoleQueries:
    """Every role's queries on one connection, to try each statement under one role."""

    producer: Queries
    worker: WorkerQueries
    console: ConsoleQueries


@pytest.fixture
async def as_role(dsn: str, names: ObjectNames) -> AsyncIterator[Callable[[str], Any]]:
    """Queries on a connection that has SET ROLE to the given role."""
    connections: list[psycopg.AsyncConnection[Any]] = []

    async def connect(role: str) -> RoleQueries:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        connections.append(conn)
        await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        return RoleQueries(
            Queries(conn, names), WorkerQueries(conn, names), ConsoleQueries(conn, names)
        )

    yield connect
    for conn in connections:
        await conn.close()


denied = pytest.raises(psycopg.errors.InsufficientPrivilege)


async def test_producer_role_can_enqueue_and_cannot_read_failures_or_take_jobs(
    make_role: Callable[[str], str], as_role: Callable[[str], Any], queries: ConsoleQueries
) -> None:
    role: RoleQueries = await as_role(make_role("producer"))
    producer = role.producer

    await schema.require_current_async(producer.conn, producer.names)
    assert len(await producer.enqueue(["p", "p"], ["1", "2"], 1)) == 2
    await producer.enqueue("p", dedupe_key="k")
    assert await producer.enqueue("p", dedupe_key="k", on_duplicate=OnDuplicate.SKIP) == []
    await producer.enqueue(
        "p", priority=5, dedupe_key="k", on_duplicate=OnDuplicate.KEEP_HIGHER_PRIORITY
    )
    assert await producer.enqueue_bulk(NewJob("p", "bulk") for _ in range(10)) == 10
    assert sum(c.count for c in await queries.queue_counts()) == 13

    with denied:
        await role.console.recent_failures()
    with denied:
        await role.worker.dequeue({"p": 10}, 10, uuid.uuid4(), 0)
    with denied:
        await role.console.purge(["p"])
    with denied:
        await role.console.pause(["p"])


async def test_worker_role_can_take_finish_and_register_but_not_enqueue_or_pause(
    make_role: Callable[[str], str], as_role: Callable[[str], Any], queries: ConsoleQueries
) -> None:
    await queries.enqueue(["w"] * 3)
    await queries.pause(["elsewhere"])
    role: RoleQueries = await as_role(make_role("worker"))
    worker = role.worker
    me = WorkerIdentity(uuid.uuid4(), "host", 1, "0", ["w"], 10)

    await schema.require_current_async(worker.conn, worker.names)
    assert [p.entrypoint for p in await worker.paused()] == ["elsewhere"]
    jobs = await worker.dequeue({"w": 10}, 10, me.id, 30)
    assert await worker.heartbeat(me, [j.id for j in jobs], in_flight=3, processed=0, failed=0)
    result = await worker.complete(
        [
            Outcome(jobs[0].id, Status.SUCCESSFUL, 0.1),
            Outcome(jobs[1].id, Status.EXCEPTION, 0.1, "e", "tb"),
            Outcome(jobs[2].id, Status.EXCEPTION, 0.1, "e", "tb", retry_in=5),
        ],
        me.id,
    )
    assert (result.finished, result.retried, result.failures_recorded) == (2, 1, 2)
    await worker.prune(3600, 1000, 3600)
    # Jobs 1 and 2 finished and 3 is the last id issued: only 1 lies more than two ids back.
    assert await worker.prune_finished(3600, 2) == 1
    await worker.deregister(me.id)
    # Its scheduled runs it may enqueue (entrypoint and headers only), and nothing more.
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await worker.register_schedules({"w": "@every 60s"}, {"w": start})
    [due] = await worker.schedules(["w"])
    following = due.read_at + dt.timedelta(seconds=60)
    assert [e for e, _ in await worker.claim_schedules([("w", due.next_run, following)])] == ["w"]

    with denied:
        await role.producer.enqueue("w")
    with denied:
        await role.console.pause(["w"])


async def test_console_role_can_watch_pause_and_requeue_but_cannot_delete_jobs(
    make_role: Callable[[str], str],
    as_role: Callable[[str], Any],
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
) -> None:
    owner = uuid.uuid4()
    await queries.enqueue(["c"] * 3)
    [job] = await worker_queries.dequeue({"c": 1}, 1, owner, 0)
    await worker_queries.complete([Outcome(job.id, Status.EXCEPTION, 0.1, "e", "tb")], owner)
    role: RoleQueries = await as_role(make_role("console"))
    console = role.console

    await schema.require_current_async(console.conn, console.names)
    assert {(c.entrypoint, c.count) for c in await console.queue_counts()} == {("c", 2)}
    await console.statistics_series(60, 1)
    await console.workers()
    assert [h.entrypoint for h in await console.latency_histograms(60)] == ["c"]
    assert (await console.finished_job(job.id)) is not None
    assert [f.final for f in await console.job_failures(job.id)] == [True]
    assert await console.in_flight() == []
    [failure] = await console.recent_failures()
    assert (await console.failure_detail(failure.id)) is not None
    assert len(await console.browse_jobs()) == 2
    assert await console.pause(["c"], by="ops", reason="look") == 1
    assert await console.resume(["c"]) == 1
    await console.pause(["c"])
    assert await console.resume_all() == 1
    assert await console.requeue_failures([failure.id]) == 1
    assert sum(c.count for c in await queries.queue_counts()) == 3

    with denied:
        await console.purge(["c"])
    with denied:
        await console.conn.execute(
            sql.SQL("DELETE FROM {}").format(sql.Identifier(console.names.jobs))
        )
    with denied:
        await role.worker.complete([Outcome(job.id, Status.SUCCESSFUL, 0.1)], owner)
    assert sum(c.count for c in await queries.queue_counts()) == 3


def test_grants_command_prints_quoted_statements_for_each_purpose(
    capsys: pytest.CaptureFixture[str], dsn: str, names: ObjectNames
) -> None:
    for purpose in ("worker", "producer", "console"):
        code, out, _ = cli(
            capsys,
            "grants",
            "--role",
            'app"; DROP ROLE x; --',
            "--for",
            purpose,
            *target(dsn, names),
        )
        assert code == 0
        statements = [line for line in out.splitlines() if not line.startswith("--")]
        assert statements and all(s.startswith("GRANT ") for s in statements)
        assert all(s.endswith('TO "app""; DROP ROLE x; --";') for s in statements)
    assert "failures" not in json.dumps(
        [s.as_string(None) for s in grant_statements(names, "p", "producer")]
    )


async def test_read_only_session_refuses_writes_at_the_database(
    dsn: str, names: ObjectNames
) -> None:
    conn = await connect_async(Settings(dsn=dsn, names=names, read_only=True), "console")
    try:
        read_only = ConsoleQueries(conn, names)
        assert await read_only.queue_counts() == []
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await read_only.pause(["x"])
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await read_only.purge()
    finally:
        await conn.close()


# --- the audit trail and the tables of version 3 ------------------------------------------------


def audit_sql(text: Any, names: ObjectNames) -> sql.Composed:
    return sql.SQL(text).format(audit=sql.Identifier(names.audit))


async def test_console_role_records_its_own_actions_and_cannot_forge_or_change_them(
    make_role: Callable[[str], str],
    as_role: Callable[[str], Any],
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
) -> None:
    owner = uuid.uuid4()
    await queries.enqueue(["c"] * 2)
    taken = await worker_queries.dequeue({"c": 2}, 2, owner, 0)
    await worker_queries.complete(
        [Outcome(j.id, Status.EXCEPTION, 0.1, f"Declined: order {j.id}", "tb") for j in taken],
        owner,
    )
    role_name = make_role("console")
    console = (await as_role(role_name)).console

    # Every action of the console, each with its entry, the role filled in by the database.
    await operations.pause(console, "c", reason="look")
    await operations.resume(console, "c")
    (group,) = await operations.failure_groups(console)
    requeue = await operations.plan_requeue(console, fingerprint=group.fingerprint)
    assert await operations.execute_requeue(console, requeue) == 2
    purge = await operations.plan_purge_failures(console, group.fingerprint)
    assert await operations.execute_purge_failures(console, purge) == 2
    await operations.enqueue(console, [NewJob("c")])
    await operations.cancel_jobs(console, [1])
    await operations.record_scale(console, "w", 1, 2)
    await console.queue_history(3600)
    entries = await operations.audit_log(console, 3600)
    assert [e.action for e in reversed(entries)] == [
        "pause", "resume", "requeue", "purge-failures", "enqueue", "cancel", "scale",
    ]  # fmt: skip
    assert {e.role for e in entries} == {role_name}

    # The role and the time are the database's to fill; no row can be changed or removed.
    forged = [
        "INSERT INTO {audit} (action, role) VALUES ('pause', 'someone else')",
        "INSERT INTO {audit} (action, at) VALUES ('pause', now() - interval '1 day')",
        "UPDATE {audit} SET reason = 'nothing to see'",
        "DELETE FROM {audit}",
    ]
    for statement in forged:
        with denied:
            await console.conn.execute(audit_sql(statement, names))
    count = sync_conn.execute(audit_sql("SELECT count(*) FROM {audit}", names)).fetchone()
    assert count == (7,)


@pytest.mark.parametrize("purpose", ["worker", "producer"])
async def test_worker_and_producer_roles_cannot_touch_the_audit_trail(
    make_role: Callable[[str], str],
    as_role: Callable[[str], Any],
    queries: ConsoleQueries,
    names: ObjectNames,
    purpose: str,
) -> None:
    await operations.pause(queries, "a")  # one entry to try to change
    role: RoleQueries = await as_role(make_role(purpose))
    for statement in (
        "INSERT INTO {audit} (action) VALUES ('pause')",
        "UPDATE {audit} SET reason = ''",
        "DELETE FROM {audit}",
    ):
        with denied:
            await role.console.conn.execute(audit_sql(statement, names))
    with denied:
        await operations.resume(role.console, "a")
    assert len(await queries.audit_log(3600)) == 1


async def test_worker_role_samples_queue_history(
    make_role: Callable[[str], str], as_role: Callable[[str], Any], queries: ConsoleQueries
) -> None:
    await queries.enqueue(["w"] * 3)
    await queries.pause(["p"])
    worker = (await as_role(make_role("worker"))).worker

    claim = await worker.sample_history(
        uuid.uuid4(), interval=1e7, retention_seconds=86400, cost_factor=50
    )
    assert claim.slot is not None and claim.entrypoints == 2
    await worker.record_sample_cost(claim.slot, 0.01)
    (sample,) = await queries.queue_history(2e7)  # the slot begins up to 1e7 s ago
    assert {n: (p.due, p.paused) for n, p in sample.entrypoints.items()} == {
        "p": (0, True),
        "w": (3, False),
    }


async def test_a_worker_role_granted_before_version_3_works_on_without_sampling(
    make_role: Callable[[str], str],
    as_role: Callable[[str], Any],
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    role_name = make_role("worker")
    for table in (names.history, names.history_samples):
        sync_conn.execute(
            sql.SQL("REVOKE ALL ON {} FROM {}").format(
                sql.Identifier(table), sql.Identifier(role_name)
            )
        )
    worker = (await as_role(role_name)).worker
    sampler = HistorySampler(settings)
    me = WorkerIdentity(uuid.uuid4(), "host", 1, "0", ["w"], 10)

    assert await sampler.maybe_sample(worker, me.id) is None
    assert "apply `pgqtop grants --for worker` again" in caplog.text
    assert sampler.interval == 0  # no more tries, so no more failing statements
    await worker.heartbeat(me, [], in_flight=0, processed=0, failed=0)  # the rest works on
