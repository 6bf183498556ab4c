"""The dialogs read well: a long name wraps instead of being cut, input fields have visible
borders in the default theme, the enqueue form labels its fields, shows its own keys and
refuses what it cannot send, and `r` on a failure still being retried says so."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from textual.containers import Vertical
from textual.widgets import DataTable, Input
from textual.widgets._footer import FooterKey

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.screens.dialogs import ChoiceScreen, EnqueueScreen
from tests.tui.conftest import cell_text, notifications, screen_text, until

Factory = Callable[..., PgqtopApp]
LONG = "render_quarterly_report_for_every_region_and_currency_v2"


async def test_a_long_entrypoint_name_wraps_in_the_dialog_title(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue(LONG, None, 0)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: cell_text(app, "queues", LONG, "queued") == "1")
        app.query_one("#queues").focus()
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "Pause" in text and LONG in text and "for…" in text


async def test_input_borders_stand_out_in_the_default_theme(make_app: Factory) -> None:
    app = make_app(watch=False)
    async with app.run_test(size=(160, 48)) as pilot:
        assert app.theme == "midnight"
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.pause()
        box = app.screen.query_one(Vertical)
        background = box.styles.background
        for field in app.screen.query(Input):
            _, colour = field.styles.border_top
            drawn = background + colour  # a translucent border is seen over the box
            assert abs(drawn.brightness - background.brightness) > 0.15, field.id


async def test_enqueue_form_labels_fields_shows_its_keys_and_refuses_a_bad_priority(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.watcher.queries is not None)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "Priority (a whole number" in text and "Entrypoint" in text
        assert "Enter submits" in text
        footer = {key.action for key in app.screen.query(FooterKey)}
        assert "cancel" in footer and "purge" not in footer and "jobs" not in footer
        form = app.screen
        form.query_one("#entrypoint", Input).value = "send_email"
        priority = form.query_one("#priority", Input)
        priority.value = ""
        priority.focus()
        await pilot.press(*"1.5")
        await pilot.press("enter")
        await until(pilot, lambda: "priority must be a whole number, not '1.5'" in screen_text(app))
        assert app.screen is form
        assert await queries.count_matching() == 0
        priority.value = "7"
        await pilot.press("enter")
        await until(pilot, lambda: any("enqueued job" in n for n in notifications(app)))
    (job,) = await queries.browse_jobs(entrypoint="send_email")
    assert job.priority == 7


async def test_r_on_a_failure_still_being_retried_says_so(
    make_app: Factory, queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    (job_id,) = await queries.enqueue("send_email", None, 0)
    worker = uuid.uuid4()
    await worker_queries.dequeue({"send_email": 1}, 1, worker, 30.0)
    await worker_queries.complete(
        [Outcome(job_id, Status.EXCEPTION, 0.01, "ValueError: flaky", "", retry_in=600.0)],
        worker,
    )
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.query_one("#failures", DataTable).row_count == 1)
        app.query_one("#failures").focus()
        await pilot.press("r")
        await until(pilot, lambda: "still being retried" in str(notifications(app)))
        (said,) = [n for n in notifications(app) if "retried" in n]
        assert "attempt 1 failed" in said and "already requeued" not in said
    assert await queries.count_requeueable("send_email") == 0
