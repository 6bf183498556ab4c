"""What the console tells an operator: each action once in the Events pane with who did it
(this console, another, or the command line; a lost LISTEN's gap read back), a warning for an
entrypoint no worker declares, and a delayed job as due in the future."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from textual.widgets import DataTable

from pgqtop import operations
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import WorkerIdentity
from pgqtop.db.worker import WorkerQueries
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.events import EventsPane
from pgqtop.tui.panes.queues import QueuesPane
from pgqtop.tui.screens.detail import DetailScreen
from pgqtop.tui.screens.jobs import JobsScreen
from tests.tui.conftest import cell_text, make_failure, notifications, screen_text, until


def event_lines(app: PgqtopApp) -> list[str]:
    return [line.text for line in app.state.events]


async def test_every_action_is_one_line_with_its_actor(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries
) -> None:
    await make_failure(queries, "sync_crm")
    (failure,) = [f.id for f in await queries.recent_failures()]
    await queries.enqueue(["report"] * 3)
    me = operations.operator_identity()
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.watcher.queries is not None)
        # Another session (the command line, another console) acts on the same queue.
        await operations.pause(queries, "report", seconds=120, reason="CRM rate limit")
        await operations.resume(queries, "report")
        plan = await operations.plan_purge(queries, ["report"])
        await operations.execute_purge(queries, plan, reason="bad deploy")
        assert await operations.requeue_failure(queries, failure)
        await operations.cancel_jobs(queries, [999])
        expected = [
            f"pause report by {me}: CRM rate limit",
            f"resume report by {me}",
            f"purge report (3) by {me}: bad deploy",
            f"requeue failure {failure} (1) by {me}",
            f"cancel job 999 by {me}",
        ]
        await until(pilot, lambda: set(expected) <= set(event_lines(app)))
        await pilot.pause(0.5)
        for line in expected:
            assert event_lines(app).count(line) == 1, line
        assert not [line for line in event_lines(app) if line.startswith(("pause ", "resume "))][
            2:
        ], "no second line from the control NOTIFY"


async def test_the_consoles_own_pause_is_one_line_and_the_row_says_who_and_why(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries
) -> None:
    await queries.enqueue(["report"])
    me = operations.operator_identity()
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.query_one(QueuesPane).selected_entrypoint == "report")
        await pilot.press("p")
        await until(pilot, lambda: f"pause report by {me}: console" in event_lines(app))
        await pilot.pause(0.5)
        assert [line for line in event_lines(app) if line.startswith("pause")] == [
            f"pause report by {me}: console"
        ]
        await until(pilot, lambda: f"‖ paused by {me}: console" in screen_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = screen_text(app)
        assert f"paused by  {me}" in text and "until  resumed" in text
        assert "reason  console" in text


async def test_actions_while_listen_was_down_are_read_back_once(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries
) -> None:
    # Done before the console listened: only the trail knows of it.
    await operations.pause(queries, "report", reason="before the console")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        line = f"pause report by {operations.operator_identity()}: before the console"
        await until(pilot, lambda: line in event_lines(app))
        app.watcher._on_listening(True)  # as after a reconnect: the trail is read again
        app.watcher.poke()
        await pilot.pause(1.0)
        assert event_lines(app).count(line) == 1


async def test_enqueue_of_an_entrypoint_no_worker_declares_warns_and_the_row_says_no_worker(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    worker = WorkerIdentity(uuid.uuid4(), "host-a", 101, "0.1.0", ["charge"], 5)
    await worker_queries.heartbeat(worker, [], in_flight=0, processed=0, failed=0)
    await queries.enqueue(["charge"])
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.query_one(QueuesPane).selected_entrypoint == "charge")
        await until(pilot, lambda: app.state.workers_seen_at is not None)
        await pilot.press("e")
        await until(pilot, lambda: "Enqueue a job" in screen_text(app))
        await pilot.press("backspace", *"chrage", "enter")  # the prefilled name, replaced
        await until(
            pilot, lambda: "no live worker declares 'chrage'" in " ".join(notifications(app))
        )
        assert not [n for n in notifications(app) if "'charge'" in n]
        await until(pilot, lambda: cell_text(app, "queues", "chrage", "forecast") == "no worker")
        assert cell_text(app, "queues", "charge", "forecast") != "no worker"


async def test_a_delayed_job_reads_in_54m_in_the_browser_and_its_detail(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries
) -> None:
    (later,) = await queries.enqueue("charge", execute_after=3240)
    await queries.enqueue("charge")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: cell_text(app, "queues", "charge", "scheduled") == "1")
        assert cell_text(app, "queues", "charge", "queued") == "1", "the due one only"
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and len(app.screen.jobs) == 2)
        table = app.screen.query_one("#jobs", DataTable)
        due = {job.id: str(table.get_cell(str(job.id), "due")) for job in app.screen.jobs}
        assert re.fullmatch(r"in 5[34]m\d\ds", due.pop(later)), due
        (now,) = due.values()
        assert re.fullmatch(r"now|\d+s ago", now), now
        app.open_job(later)
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert re.search(r"runs after  in 5[34]m\d\ds", screen_text(app))


async def test_a_delayed_job_counts_as_scheduled_soon_and_as_due_when_its_time_comes(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries
) -> None:
    await queries.enqueue("report")
    app = make_app(refresh=60)  # no periodic count: only new jobs or a due time bring one
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: cell_text(app, "queues", "report", "queued") == "1")
        # Due in 10 s: long enough for a busy machine to show both as scheduled first.
        await queries.enqueue(["charge", "charge"], execute_after=[3600, 10])
        await until(pilot, lambda: cell_text(app, "queues", "charge", "scheduled") == "2", 9)
        assert cell_text(app, "queues", "charge", "queued") == "0"
        # Nothing is sent when a job comes due: the count the watcher sets for then shows it.
        await until(pilot, lambda: cell_text(app, "queues", "charge", "queued") == "1", 25)
        assert cell_text(app, "queues", "charge", "scheduled") == "1"


async def test_the_events_pane_draws_the_lines_that_fit_and_more_when_taller(
    make_app: Callable[..., PgqtopApp],
) -> None:
    """With jobs flowing a line arrives every second; the pane redraws only what fits,
    without laying the screen out again."""
    app = make_app(watch=False)
    async with app.run_test(size=(160, 30)) as pilot:
        for n in range(50):
            app.state.add_event(f"line {n:02d}", at=1_750_000_000.0 + n)
        app.repaint(force=True)
        await pilot.pause()
        pane = app.query_one(EventsPane)
        fits = pane.size.height
        shown = re.findall(r"line \d\d", screen_text(app))
        assert shown == [f"line {n:02d}" for n in range(49, 49 - fits, -1)]
        assert len(re.findall(r"line \d\d", str(pane.content))) == fits, "nothing hidden"
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: pane.size.height > fits)
        await until(
            pilot, lambda: len(re.findall(r"line \d\d", screen_text(app))) == pane.size.height
        )
