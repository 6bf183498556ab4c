"""A key acts on what the visible screen shows: every write key and the worker keys, pressed on
every screen and pane, either acts on the item shown there (checked in the database, or by the
dialog that asks first naming it) or does nothing and says why. Each screen's footer lists only
the keys that mean something there."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input
from textual.widgets._footer import FooterKey

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.tui import keys
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.screens.detail import DetailScreen
from pgqtop.tui.screens.dialogs import ChoiceScreen, ConfirmScreen, EnqueueScreen
from pgqtop.tui.screens.help import HelpScreen
from tests.tui.conftest import cell_text, make_failure, notifications, screen_text, until

Factory = Callable[..., PgqtopApp]

PLACES = ("queues", "failures", "workers", "jobs", "job", "failure", "entrypoint", "help")
SHOWN = {
    "queues": "resize_image",  # the Queues row under the cursor
    "failures": "send_email",  # the failure under the cursor
    "jobs": "crunch",  # the running job under the cursor
    "job": "crunch",
    "failure": "send_email",
    "entrypoint": "send_email",  # Enter on its Queues row; the cursor behind moves away
}
"""The entrypoint each place shows; the rows behind it show others, so a key that looked
behind the screen would be caught acting on the wrong one."""
MAIN = ("queues", "failures", "workers")


async def arrange(queries: ConsoleQueries, worker_queries: WorkerQueries) -> int:
    """A queued entrypoint, failures of two, and a running job; returns the running job."""
    await make_failure(queries, "resize_image")
    await make_failure(queries, "send_email")  # newest: the failures pane's first row
    await queries.enqueue(["resize_image", "send_email"], None, 0)
    (running,) = await queries.enqueue("crunch", None, 0)
    await worker_queries.dequeue({"crunch": 1}, 1, uuid.uuid4(), 60.0)
    return running


async def go(pilot: Pilot[Any], app: PgqtopApp, place: str, running: int) -> None:
    await until(pilot, lambda: app.watcher.queries is not None)
    await until(pilot, lambda: cell_text(app, "queues", "resize_image", "queued") is not None)
    await until(pilot, lambda: app.query_one("#failures", DataTable).row_count == 2)
    queues = app.query_one("#queues", DataTable)
    order = [row.value for row in queues.rows]
    queues.move_cursor(row=order.index("resize_image"))
    send_failure = next(f.id for f in app.state.failures if f.entrypoint == "send_email")
    if place == "queues":
        queues.focus()
    elif place == "failures":
        failures = app.query_one("#failures", DataTable)
        failures.focus()
        failures.move_cursor(row=[r.value for r in failures.rows].index(str(send_failure)))
    elif place == "workers":
        app.query_one("#workers").focus()
    elif place == "jobs":
        await app.push_screen(app._jobs_screen("crunch"))
        await until(pilot, lambda: str(running) in screen_text(app))
    elif place == "job":
        app.open_job(running)
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
    elif place == "failure":
        app.open_failure(send_failure)
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
    elif place == "entrypoint":
        queues.focus()
        queues.move_cursor(row=order.index("send_email"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        queues.move_cursor(row=order.index("resize_image"))
    elif place == "help":
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
    await pilot.pause()
    assert app.where() == place


def expected_dialog(key: str, place: str) -> tuple[type[Any], str] | None:
    """The dialog a key opens at a place and the text it must show; None: no dialog."""
    shown = SHOWN.get(place)
    if key == "T" and shown:
        return ChoiceScreen, f"Pause {shown} for"
    if key == "d" and place in ("queues", "entrypoint"):
        return ConfirmScreen, f"Delete 1 queued job of {shown}"
    if key == "D" and place in MAIN:
        return ConfirmScreen, "Delete 2 queued jobs"
    if key == "R" and place in ("queues", "failures", "failure", "entrypoint"):
        return ConfirmScreen, f"Requeue 1 failed job of {shown}"
    if key == "e" and place != "help":
        return EnqueueScreen, shown or ""
    return None


WRITE_KEYS = ("p", "P", "T", "d", "D", "r", "R", "x", "e", "w", "plus", "minus")


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("key", WRITE_KEYS)
async def test_a_key_acts_on_what_the_screen_shows_or_says_why_not(
    make_app: Factory,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    key: str,
    place: str,
) -> None:
    running = await arrange(queries, worker_queries)
    app = make_app()
    command = keys.command_for_key(key)
    assert command is not None
    async with app.run_test(size=(160, 48)) as pilot:
        await go(pilot, app, place, running)
        before = app.screen
        told = len(notifications(app))
        await pilot.press(key)
        dialog = expected_dialog(key, place)
        if dialog is not None:
            kind, text = dialog
            await until(pilot, lambda: isinstance(app.screen, kind))
            if kind is EnqueueScreen:
                assert app.screen.query_one("#entrypoint", Input).value == text
            else:
                assert text in screen_text(app)
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is before)
        elif key == "p" and place in SHOWN:
            await until(pilot, lambda: any("paused" in n for n in notifications(app)))
        elif key == "P" and place in MAIN:
            await until(pilot, lambda: "paused every entrypoint" in str(notifications(app)))
        elif key == "r" and place in ("failures", "failure"):
            await until(pilot, lambda: any("requeued failure" in n for n in notifications(app)))
        elif key == "x" and place in ("jobs", "job"):
            await until(pilot, lambda: any("cancel job" in n for n in notifications(app)))
        elif key in ("w", "plus", "minus") and place in MAIN:
            await until(pilot, lambda: any("no embedded worker" in n for n in notifications(app)))
        else:
            await until(pilot, lambda: len(notifications(app)) > told)
            assert notifications(app)[-1] == command.refusal()
            assert app.screen is before  # no dialog, no browser: nothing started
        await pilot.pause(0.2)

    paused = sorted(p.entrypoint for p in await queries.paused())
    if key == "p" and place in SHOWN:
        assert paused == [SHOWN[place]]
    elif key == "P" and place in MAIN:
        assert paused == ["*"]
    else:
        assert paused == []
    assert await queries.count_matching(["resize_image", "send_email"]) == (
        3 if key == "r" and place in ("failures", "failure") else 2
    )
    requeueable = await queries.count_requeueable("send_email")
    assert requeueable == (0 if key == "r" and place in ("failures", "failure") else 1)
    assert await queries.count_requeueable("resize_image") == 1
    asked_before = await queries.cancel([running]) == 0
    assert asked_before is (key == "x" and place in ("jobs", "job"))


FOOTER_KEYS = {
    "queues": {"p", "d", "e", "w", "j", "t", "c", "slash", "space", "question_mark", "q"},
    "failures": {"p", "r", "e", "w", "j", "t", "c", "slash", "space", "question_mark", "q"},
    "workers": {"e", "w", "j", "t", "c", "slash", "space", "question_mark", "q"},
    "jobs": {"p", "x", "e", "t", "question_mark", "q"},
    "job": {"p", "x", "e", "t", "question_mark"},  # q: back, as escape
    "failure": {"p", "r", "e", "t", "question_mark"},
}


@pytest.mark.parametrize("place", list(FOOTER_KEYS))
async def test_each_footer_lists_exactly_the_keys_that_act_there(
    make_app: Factory, queries: ConsoleQueries, worker_queries: WorkerQueries, place: str
) -> None:
    running = await arrange(queries, worker_queries)
    app = make_app()
    async with app.run_test(size=(200, 48)) as pilot:
        await go(pilot, app, place, running)
        await until(pilot, lambda: bool(app.screen.query(FooterKey)))
        await pilot.pause(0.2)
        ours = {
            footer.key for footer in app.screen.query(FooterKey) if footer.action.isidentifier()
        }
        command_keys = {c.key for c in keys.COMMANDS}
        assert ours & command_keys == FOOTER_KEYS[place]
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for command in keys.COMMANDS:
            listed = f"{command.title} ({keys.shown_key(command)})" in titles
            assert listed is command.applies(place), command.key
