"""The console listens and reconnects through the engine's own listener and reconnect policy:
foreign notifications are treated as a worker treats them, and a lost LISTEN connection comes
back by itself and is followed by a fresh count."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from pgqtop.db.console import ConsoleQueries
from pgqtop.tui.app import PgqtopApp
from tests.tui.conftest import cell_text, screen_text, until


def header(app: PgqtopApp) -> str:
    return screen_text(app).splitlines()[0]


async def test_foreign_notifications_are_warned_about_once_and_ignored(
    make_app: Callable[..., PgqtopApp],
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="pgqtop")
    app = make_app(refresh=60)
    channel = queries.names.channel
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.watcher.queries is not None)
        for garbage in ("not json", '{"op": 42}', "[]"):
            await aconn.execute("SELECT pg_notify(%s, %s)", (channel, garbage))
        await queries.enqueue(["send_email"] * 2, None, 0)
        # Only NOTIFY can bring the count (the reconciliation sleeps for a minute): the
        # listener got past the garbage.
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "queued") == "2")
        assert "connected" in header(app)
    ignored = [r for r in caplog.records if r.getMessage().startswith("ignored a notification")]
    assert [r.levelno for r in ignored] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert {r.name for r in ignored} == {"pgqtop.engine.listener"}


async def test_a_lost_listen_connection_comes_back_and_counts_again(
    make_app: Callable[..., PgqtopApp],
    queries: ConsoleQueries,
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    app = make_app(refresh=60)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.watcher.queries is not None)
        await until(pilot, lambda: app.state.reconciled_at is not None)
        # Jobs the console cannot hear of: no trigger fires in replica mode.
        await aconn.execute("SET session_replication_role = replica")
        await queries.enqueue(["silent"] * 3, None, 0)
        await aconn.execute("RESET session_replication_role")
        await pilot.pause(0.3)
        assert cell_text(app, "queues", "silent", "queued") is None
        cur = await aconn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'pgqtop console listen' AND query ILIKE %s",
            (f"%{queries.names.channel}%",),
        )
        assert await cur.fetchone() == (1,)
        # The reconciliation sleeps for a minute; only the count that follows a new LISTEN
        # can show the silent jobs now.
        await until(pilot, lambda: cell_text(app, "queues", "silent", "queued") == "3", 15)
        await until(pilot, lambda: "● connected" in header(app))
        await queries.enqueue("send_email")
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "queued") == "1")
