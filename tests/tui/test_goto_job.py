"""`o` asks for a job id and shows the job's whole story, as `pgqtop job ID` tells it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.screens.detail import DetailScreen
from pgqtop.tui.screens.dialogs import PromptScreen
from tests.test_job_story import identity, take
from tests.tui.conftest import notifications, screen_text, until

Factory = Callable[..., PgqtopApp]


async def ask_for(pilot: Pilot[Any], app: PgqtopApp, text: str) -> None:
    await pilot.press("o")
    await until(pilot, lambda: isinstance(app.screen, PromptScreen))
    await pilot.press(*text, "enter")


async def test_o_shows_a_finished_jobs_story_with_its_failed_attempt(
    make_app: Factory, queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    (job_id,) = await queries.enqueue("story")
    first, second = identity("host-a", 1), identity("host-b", 2)
    await take(worker_queries, first, job_id)
    error = "ValueError: [bold]no[/bold] \x1b[31m"
    await worker_queries.complete(
        [Outcome(job_id, Status.EXCEPTION, 0.1, error, "Traceback: line 1\n  raise it", 0.0)],
        first.id,
    )
    await take(worker_queries, second, job_id)
    await worker_queries.complete([Outcome(job_id, Status.SUCCESSFUL, 0.5)], second.id)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.watcher.queries is not None)
        await ask_for(pilot, app, f"#{job_id}")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = screen_text(app)
        assert f"job {job_id} (story, priority 0): succeeded" in text
        assert "attempt 1" in text and "host-a" in text and "retried" in text
        assert "Traceback: line 1" in text and "raise it" in text
        assert "picked" in text and "host-b" in text
        # Database text is shown as it is: the markup stays literal, the escape is escaped.
        assert "ValueError: [bold]no[/bold] \\x1b[31m" in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen))


async def test_o_with_an_unknown_or_malformed_id_says_so_and_stays(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.watcher.queries is not None)
        await ask_for(pilot, app, "987654")
        await until(pilot, lambda: any("no job 987654" in n for n in notifications(app)))
        assert not isinstance(app.screen, DetailScreen)
        await until(pilot, lambda: not isinstance(app.screen, PromptScreen))
        await ask_for(pilot, app, "abc")
        await until(pilot, lambda: any("positive whole number" in n for n in notifications(app)))
        assert not isinstance(app.screen, DetailScreen)
