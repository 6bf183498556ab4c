"""A producer role holding exactly what `pgqtop grants --for producer` prints can add jobs,
under every dedupe policy and by COPY, and nothing else: it cannot read, change or delete
the jobs already there. Tested with a real login role connecting on its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from pgqtop.config import ObjectNames
from pgqtop.db import schema
from pgqtop.db.producer import Queries, SyncQueries
from pgqtop.model import DuplicateJob, NewJob, OnDuplicate
from tests.test_cli_admin import cli, target
from tests.test_schema import sq


def create_login_role(conn: psycopg.Connection[Any], label: str) -> str:
    # A space and a quote in the name prove every grant quotes it as an identifier.
    role = f'pgqtop {label} "{uuid.uuid4().hex[:8]}"'
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    return role


def drop_role(conn: psycopg.Connection[Any], role: str) -> None:
    conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def producer_role(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> Iterator[str]:
    """A login role granted what the CLI prints for a producer, applied statement by statement
    as an operator would paste it into psql."""
    role = create_login_role(sync_conn, "producer")
    code, out, _ = cli(capsys, "grants", "--role", role, "--for", "producer", *target(dsn, names))
    assert code == 0
    statements = [line for line in out.splitlines() if line and not line.startswith("--")]
    assert statements
    for statement in statements:
        sync_conn.execute(statement.encode())
    yield role
    drop_role(sync_conn, role)


@pytest.fixture
async def as_producer(dsn: str, producer_role: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await psycopg.AsyncConnection.connect(
        make_conninfo(dsn, user=producer_role), autocommit=True
    )
    try:
        yield conn
    finally:
        await conn.close()


def jobs(conn: psycopg.Connection[Any], names: ObjectNames) -> list[tuple[Any, ...]]:
    return conn.execute(
        sq("SELECT entrypoint, priority, dedupe_key FROM {jobs} ORDER BY id", names)
    ).fetchall()


async def test_a_producer_enqueues_under_every_policy_and_by_copy(
    dsn: str,
    names: ObjectNames,
    producer_role: str,
    as_producer: psycopg.AsyncConnection[Any],
    sync_conn: psycopg.Connection[Any],
) -> None:
    producer = Queries(as_producer, names)
    await schema.require_current_async(as_producer, names)

    [first] = await producer.enqueue("mail", "hi", 1, dedupe_key="k")
    assert len(await producer.enqueue(["a", "b"], [b"1", b"2"], 0)) == 2
    with pytest.raises(DuplicateJob):
        await producer.enqueue("mail", dedupe_key="k")
    assert await producer.enqueue("mail", dedupe_key="k", on_duplicate=OnDuplicate.SKIP) == []
    [second] = await producer.enqueue(
        ["mail", "mail"], dedupe_key=["k", "k2"], on_duplicate=OnDuplicate.SKIP
    )
    assert second > first
    raised = await producer.enqueue(
        "mail", priority=9, dedupe_key="k", on_duplicate=OnDuplicate.KEEP_HIGHER_PRIORITY
    )
    assert raised == [first]
    assert await producer.enqueue_bulk(NewJob("bulk", b"x", 2) for _ in range(50)) == 50

    with psycopg.connect(make_conninfo(dsn, user=producer_role), autocommit=True) as conn:
        assert len(SyncQueries(conn, names).enqueue(["s", "s"])) == 2
        assert SyncQueries(conn, names).enqueue("s", dedupe_key="k", on_duplicate="skip") == []  # type: ignore[arg-type]

    stored = jobs(sync_conn, names)
    assert stored[0] == ("mail", 9, "k")
    assert len(stored) == 1 + 2 + 1 + 50 + 2


REFUSED = [
    "UPDATE {jobs} SET priority = -2000000000 WHERE id > 0",
    "UPDATE {jobs} SET priority = 1, updated = now() WHERE dedupe_key = 'k'",
    "DELETE FROM {jobs}",
    "SELECT id FROM {jobs}",
    "SELECT count(*) FROM {jobs}",
    "SELECT id, status, dedupe_key FROM {jobs}",
    "SELECT priority FROM {jobs} WHERE dedupe_key = 'k'",
    "INSERT INTO {jobs} (entrypoint) VALUES ('x') RETURNING id",
    "INSERT INTO {jobs} (entrypoint, status) VALUES ('x', 'picked')",
    "INSERT INTO {jobs} (entrypoint, attempts) VALUES ('x', 99)",
    "TRUNCATE {jobs}",
    "SELECT * FROM {failures}",
    "SELECT * FROM {statistics}",
    "SELECT * FROM {workers}",
    "SELECT * FROM {control}",
    "INSERT INTO {control} (entrypoint) VALUES ('mail')",
]


async def test_a_producer_cannot_read_change_or_delete_jobs(
    names: ObjectNames,
    as_producer: psycopg.AsyncConnection[Any],
    sync_conn: psycopg.Connection[Any],
) -> None:
    await Queries(as_producer, names).enqueue("mail", "secret", 5, dedupe_key="k")
    for statement in REFUSED:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await as_producer.execute(sq(statement, names))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        await as_producer.execute("SELECT nextval(%s)", (f"{names.jobs}_id_seq",))
    assert jobs(sync_conn, names) == [("mail", 5, "k")]
    # Plain SQL without RETURNING still works, for producers in any language.
    await as_producer.execute(sq("INSERT INTO {jobs} (entrypoint) VALUES ('plain')", names))
    assert [j[0] for j in jobs(sync_conn, names)] == ["mail", "plain"]


async def test_a_temporary_table_cannot_divert_the_enqueue_function(
    names: ObjectNames,
    as_producer: psycopg.AsyncConnection[Any],
    sync_conn: psycopg.Connection[Any],
) -> None:
    """The function runs as its owner with search_path pinned and the table named with its
    schema, so a same-named temporary table of the caller is not where the job goes."""
    await as_producer.execute(sq("CREATE TEMPORARY TABLE {jobs} (LIKE pg_catalog.pg_class)", names))
    await Queries(as_producer, names).enqueue(["real", "real"])
    await Queries(as_producer, names).enqueue("real")
    assert [j[0] for j in jobs(sync_conn, names)] == ["real"] * 3


async def test_nobody_else_may_call_the_enqueue_functions(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any]
) -> None:
    stranger = create_login_role(sync_conn, "stranger")
    try:
        with psycopg.connect(make_conninfo(dsn, user=stranger), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                SyncQueries(conn, names).enqueue("mail")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                SyncQueries(conn, names).enqueue(["mail", "mail"])
    finally:
        drop_role(sync_conn, stranger)
    assert jobs(sync_conn, names) == []


def test_verify_reports_an_enqueue_function_anyone_may_call(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    assert cli(capsys, "verify", *target(dsn, names))[0] == 0
    signature = schema.ENQUEUE_ONE.signature(names)
    sync_conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO PUBLIC").format(signature))
    code, out, _ = cli(capsys, "verify", *target(dsn, names))
    assert code == 1 and "PUBLIC" in out
    assert cli(capsys, "upgrade", *target(dsn, names))[0] == 0
    assert cli(capsys, "verify", *target(dsn, names))[0] == 0
