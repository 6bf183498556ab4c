"""The workers pane with a real embedded worker holding a slow job: its columns at three
terminal sizes, and the drill-down that lists the worker's running jobs and cancels one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.widgets import DataTable

from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job
from pgqtop.model.identity import short_id
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.workers import WorkersPane
from pgqtop.tui.screens.worker import WorkerScreen
from tests.tui.conftest import notifications, screen_text, until

Factory = Callable[..., PgqtopApp]


def columns(table: DataTable[Any]) -> dict[str, int]:
    return {str(key.value): column.width for key, column in table.columns.items()}


async def test_a_worker_holding_a_slow_job_shows_it_and_its_job_can_be_canceled(
    make_app: Factory, queries: ConsoleQueries, settings: Settings
) -> None:
    settings.engine.heartbeat_interval = 0.5
    manager = QueueManager(settings)
    started: list[int] = []
    cancelled: list[int] = []

    @manager.entrypoint("sleepy")
    async def sleepy(job: Job) -> None:
        started.append(job.id)
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(job.id)
            raise

    (job_id,) = await queries.enqueue("sleepy")
    app = make_app(manager=manager)
    async with app.run_test(size=(200, 50)) as pilot:
        pane = app.query_one(WorkersPane)
        await until(pilot, lambda: started == [job_id])
        app.watcher.poke()
        worker = manager.worker_id
        key = str(worker)

        def cell(column: str) -> str:
            try:
                return str(pane.get_cell(key, column))
            except Exception:
                return ""

        await until(pilot, lambda: cell("jobs") == "1" and cell("longest") not in ("", "-"))
        assert cell("id") == short_id(worker)
        assert cell("done") == "0/0"
        assert cell("pool").endswith("%")
        wide = columns(pane)
        assert {"id", "host", "done", "beat", "jobs", "longest", "rss", "pool"} <= set(wide)

        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        await until(pilot, lambda: set(columns(pane)) == {"id", "done", "beat", "jobs"})
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: set(columns(pane)) == {"id", "beat", "jobs"})
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: "host" in columns(pane))

        # Enter opens the worker's running jobs; `x` cancels the selected one after asking.
        pane.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WorkerScreen))
        screen = app.screen
        assert isinstance(screen, WorkerScreen)
        await until(pilot, lambda: [j.id for j in screen.jobs] == [job_id])
        assert f"worker {short_id(worker)}" in screen_text(app)
        await pilot.press("x")
        await until(pilot, lambda: f"Cancel job {job_id} (sleepy)" in screen_text(app))
        await pilot.press("y")
        await until(pilot, lambda: any("to cancel job" in n for n in notifications(app)))
        await until(pilot, lambda: cancelled == [job_id])
        await until(pilot, lambda: screen.jobs == [])
