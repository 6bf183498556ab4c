"""The embedded PostgreSQL starts, serves, and never outlives the pgqtop that started it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgqtop.server import embedded_server, server_pid
from tests.waiting import eventually_sync

pytestmark = pytest.mark.slow

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pgqtop.server import embedded_server

    with embedded_server(Path(sys.argv[1])) as dsn:
        print(dsn, flush=True)
        time.sleep(60)
    """
)


@pytest.fixture(scope="module")
def pgdata() -> Iterator[Path]:
    """One data directory for the module: initdb once, then every start is a warm one.

    Outside pytest's numbered temporary directories, which a concurrent pytest run may rotate
    away from under a running server.
    """
    root = Path(tempfile.mkdtemp(prefix="pgqtop-test-server-"))
    directory = root / "pgdata"
    yield directory
    pid = server_pid(directory)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(AssertionError):
            wait_until_gone(pid)
    shutil.rmtree(root, ignore_errors=True)


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent that may never reap it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def wait_until_gone(pid: int, what: str = "the server to stop", seconds: float = 10.0) -> None:
    eventually_sync(lambda: not running(pid), seconds, f"{what} (pid {pid})")


def start_holder(pgdata: Path) -> tuple[subprocess.Popen[str], str]:
    """A separate process that starts the server and holds it; returns it and the DSN."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(pgdata)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert holder.stdout is not None
    dsn = holder.stdout.readline().strip()
    assert dsn.startswith("postgresql://"), f"holder printed {dsn!r}"
    return holder, dsn


def test_server_serves_queries_and_stops_when_the_block_ends(pgdata: Path) -> None:
    with embedded_server(pgdata) as dsn:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("select current_setting('server_version_num')::int").fetchone()
        assert row is not None and row[0] >= 150000
        pid = server_pid(pgdata)
        assert pid is not None and running(pid)
    wait_until_gone(pid)
    assert server_pid(pgdata) is None


def test_nested_blocks_keep_the_server_until_the_outer_one_ends(pgdata: Path) -> None:
    with embedded_server(pgdata) as outer:
        with embedded_server(pgdata) as inner:
            assert inner == outer
        with psycopg.connect(outer) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        pid = server_pid(pgdata)
        assert pid is not None
    wait_until_gone(pid)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_terminating_the_holding_process_stops_the_server(
    pgdata: Path, signum: signal.Signals
) -> None:
    holder, dsn = start_holder(pgdata)
    try:
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        pid = server_pid(pgdata)
        assert pid is not None
        holder.send_signal(signum)
        assert holder.wait(timeout=15) == 128 + signum
        wait_until_gone(pid)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_thread_left_running_cannot_keep_a_terminated_process_alive(pgdata: Path) -> None:
    """A terminal UI interrupted by SIGHUP may leave a non-daemon thread spinning on the
    closed terminal; the server must still stop and the process must still end."""
    stuck = HOLDER.replace(
        "    print(dsn, flush=True)",
        "    import threading\n"
        "    threading.Thread(target=lambda: time.sleep(600)).start()\n"
        "    print(dsn, flush=True)",
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", stuck, str(pgdata)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith("postgresql://")
        pid = server_pid(pgdata)
        assert pid is not None
        holder.send_signal(signal.SIGHUP)
        assert holder.wait(timeout=15) == 128 + signal.SIGHUP
        wait_until_gone(pid)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_server_left_by_a_killed_run_is_reused_then_stopped(pgdata: Path) -> None:
    holder, dsn = start_holder(pgdata)
    holder.kill()
    holder.wait()
    leftover = server_pid(pgdata)
    assert leftover is not None and running(leftover), "SIGKILL leaves the server running"

    with embedded_server(pgdata) as reused:
        assert reused == dsn
        assert server_pid(pgdata) == leftover, "the leftover server is reused, not replaced"
        with psycopg.connect(reused) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    wait_until_gone(leftover, "the next run to stop the leftover server at its end")
