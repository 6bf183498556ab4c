"""The main screen follows the database: NOTIFY events, reconciliation, polls, reconnects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.tui.app import PgqtopApp
from tests.tui.conftest import cell_text, make_failure, screen_text, until


async def test_queues_pane_counts_from_reconciliation_then_follows_notify(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries
) -> None:
    await queries.enqueue(["send_email"] * 3, None, 0)
    app = make_app(refresh=60)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "queued") == "3")
        # The reconciliation now sleeps for a minute: only NOTIFY can bring the new count.
        await queries.enqueue(["send_email"] * 2 + ["resize_image"], None, 0)
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "queued") == "5")
        await until(pilot, lambda: cell_text(app, "queues", "resize_image", "queued") == "1")
        await until(pilot, lambda: "send_email +2 queued" in screen_text(app))
        header = screen_text(app).splitlines()[0]
        assert "connected" in header and "PostgreSQL" in header
        assert "password" not in screen_text(app)


async def test_failures_and_workers_panes_show_polled_rows(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries
) -> None:
    job_id = await make_failure(queries)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: "ValueError: bad address" in screen_text(app))
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "failed") == "1")
        assert app.state.failures[0].job_id == job_id


async def test_scheduled_entrypoints_show_their_next_run_and_an_overdue_one_stands_out(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    now = dt.datetime.now(dt.UTC)
    await worker_queries.register_schedules(
        {"nightly_report": "0 3 * * *", "rotate_keys": "@every 20s"},
        {
            "nightly_report": now + dt.timedelta(hours=2),
            "rotate_keys": now - dt.timedelta(minutes=3),
        },
    )
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        # No job of either exists yet: the timetable alone gives each a row.
        def next_run(entrypoint: str) -> str:
            return cell_text(app, "queues", entrypoint, "schedule") or ""

        await until(pilot, lambda: next_run("nightly_report").startswith("in 1h5"))
        # Three minutes late: no running worker declares it.
        assert next_run("rotate_keys").startswith("overdue 3m")


async def test_dead_database_shows_reconnecting_countdown(
    make_app: Callable[..., PgqtopApp], settings: Settings
) -> None:
    dead = Settings(dsn="postgresql://nobody:secret@127.0.0.1:1/none", names=settings.names)
    app = make_app(settings=dead)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: "reconnecting in" in screen_text(app).splitlines()[0])
        assert "secret" not in screen_text(app)
        await pilot.press("space")  # the screen still answers keys while disconnected
        await until(pilot, lambda: "FROZEN" in screen_text(app).splitlines()[0])
