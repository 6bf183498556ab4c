"""--read-only through PgBouncer: refused with one line where the pooler refuses the startup
option, and enforced transaction by transaction where the pooler is told to ignore it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from pgqtop.config import ObjectNames, Settings
from pgqtop.db.connection import connect_async, connect_sync
from pgqtop.db.console import ConsoleQueries
from pgqtop.errors import ConnectionFailed
from tests.pooler import pgbouncer, pgbouncer_binary


@pytest.fixture(scope="module")
def ignoring_pooler(dsn: str) -> Iterator[str]:
    """A transaction-mode PgBouncer told `ignore_startup_parameters = options`."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (.ci/run installs it: apt-get install pgbouncer)")
    with pgbouncer(dsn, ignore_options=True) as bouncer:
        yield bouncer.dsn


async def test_read_only_holds_where_the_pooler_ignores_the_startup_option(
    ignoring_pooler: str, names: ObjectNames
) -> None:
    settings = Settings(dsn=ignoring_pooler, names=names, read_only=True)
    conn = await connect_async(settings, "console")
    try:
        read_only = ConsoleQueries(conn, names)
        assert await read_only.queue_counts() == []
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await read_only.pause(["x"])
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await read_only.purge()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await read_only.enqueue("sneaky")
        assert await read_only.queue_counts() == []
    finally:
        await conn.close()


def test_sync_read_only_holds_there_too(ignoring_pooler: str, names: ObjectNames) -> None:
    settings = Settings(dsn=ignoring_pooler, names=names, read_only=True)
    with (
        connect_sync(settings, "check") as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("CREATE TABLE pgqtop_read_only_probe (x int)")


def test_a_writable_session_through_the_same_pooler_stays_writable(
    ignoring_pooler: str, names: ObjectNames
) -> None:
    with connect_sync(Settings(dsn=ignoring_pooler, names=names), "check") as conn:
        cur = conn.execute("SELECT current_setting('transaction_read_only')")
        assert cur.fetchone() == ("off",)


async def test_a_pooler_that_refuses_the_option_is_a_connection_failure(
    pgbouncer_dsn: str, names: ObjectNames
) -> None:
    with pytest.raises(ConnectionFailed, match="unsupported startup parameter"):
        await connect_async(Settings(dsn=pgbouncer_dsn, names=names, read_only=True), "console")


def test_the_console_refused_by_such_a_pooler_says_so_in_one_line(
    pgbouncer_dsn: str, names: ObjectNames
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgqtop",
            "--read-only",
            "--dsn",
            pgbouncer_dsn,
            "--prefix",
            names.prefix,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unsupported startup parameter" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
