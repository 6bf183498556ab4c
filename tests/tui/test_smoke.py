"""The installed `pgqtop` command in a real terminal (tmux): it paints, answers keys, quits."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop.config import Settings
from pgqtop.db.producer import SyncQueries
from tests.waiting import eventually_sync

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


def installed_pgqtop() -> str:
    found = Path(sys.executable).parent / "pgqtop"
    return str(found) if found.exists() else shutil.which("pgqtop") or "pgqtop"


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., str]]:
    socket = f"pgqtop-smoke-{uuid.uuid4().hex[:8]}"
    # pytest's own COLUMNS/LINES would otherwise pin the app to 80x24 inside tmux.
    clean = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}

    def tmux(*args: str) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", socket, *args], capture_output=True, text=True, timeout=10, env=clean
        )
        return done.stdout

    yield tmux
    tmux("kill-server")


def wait_for_screen(tmux: Callable[..., str], text: str, limit: float = 15.0) -> str:
    """Wait for `text` in the terminal; returns the screen that showed it."""
    screen = ""

    def shows() -> bool:
        nonlocal screen
        screen = tmux("capture-pane", "-p", "-t", "smoke")
        return text in screen

    eventually_sync(shows, limit, repr(text), step=0.2, detail=lambda: f"the screen was:\n{screen}")
    return screen


def test_installed_command_paints_pauses_and_quits(
    terminal: Callable[..., str], settings: Settings, sync_conn: Any, tmp_path: Path
) -> None:
    queries = SyncQueries(sync_conn, settings.names)
    queries.enqueue(["smoke_jobs"] * 4, None, 0)
    env = {
        "PGQTOP_CONFIG_DIR": str(tmp_path / "config"),
        "PGQTOP_STATE_DIR": str(tmp_path / "state"),
        "TERM": "xterm-256color",
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = (
        f"{exports} {shlex.quote(installed_pgqtop())} --dsn {shlex.quote(settings.dsn)} "
        f"--prefix {settings.names.prefix}; echo pgqtop-exited-$?; sleep 30"
    )
    terminal("new-session", "-d", "-s", "smoke", "-x", "160", "-y", "48", "bash", "-c", command)
    terminal("resize-window", "-t", "smoke", "-x", "160", "-y", "48")
    screen = wait_for_screen(terminal, "smoke_jobs")
    assert "connected" in wait_for_screen(terminal, "● connected")
    assert "Queues" in screen and "Throughput" in screen
    terminal("send-keys", "-t", "smoke", "p")
    wait_for_screen(terminal, "‖")
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        pause_rows = psycopg.sql.SQL("SELECT 1 FROM {}").format(
            psycopg.sql.Identifier(settings.names.control)
        )
        eventually_sync(lambda: conn.execute(pause_rows).fetchall(), 10, "the pause row")
    terminal("send-keys", "-t", "smoke", "?")
    wait_for_screen(terminal, "Cycle colour themes")
    terminal("send-keys", "-t", "smoke", "Escape")
    eventually_sync(
        lambda: "Cycle colour themes" not in terminal("capture-pane", "-p", "-t", "smoke"),
        10,
        "the help to close",
        step=0.1,
    )
    terminal("send-keys", "-t", "smoke", "q")
    wait_for_screen(terminal, "pgqtop-exited-0")
