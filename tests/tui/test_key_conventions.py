"""Keys by convention: g/G and Home/End reach the ends of every table and text, the sorted
column says so, `+` stops at a sane concurrency, a repeated toast counts instead of stacking,
and a read-only session does not advertise what it cannot do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.widgets import DataTable, Input
from textual.widgets._footer import FooterKey

from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.manager import QueueManager
from pgqtop.tui import keys
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.screens.detail import DetailScreen
from pgqtop.tui.screens.help import HelpScreen
from pgqtop.tui.screens.jobs import JobsScreen
from tests.tui.conftest import cell_text, make_failure, notifications, screen_text, until

Factory = Callable[..., PgqtopApp]
NAMES = [f"entry_{i:02}" for i in range(40)]


async def test_g_G_home_end_reach_the_first_and_last_row_of_every_table(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue(NAMES, b"a line\n" * 200, 0)
    for _ in range(3):
        await make_failure(queries)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: cell_text(app, "queues", NAMES[-1], "queued") is not None)
        await until(pilot, lambda: app.query_one("#failures", DataTable).row_count == 3)
        for table_id in ("queues", "failures"):
            table = app.query_one(f"#{table_id}", DataTable)
            table.focus()
            for first, last in (("g", "G"), ("home", "end")):
                await pilot.press(last)
                assert table.cursor_row == table.row_count - 1, (table_id, last)
                await pilot.press(first)
                assert table.cursor_row == 0, (table_id, first)
            await pilot.press("down", "down")
            assert table.cursor_row == 2
            await pilot.press("pagedown")
            assert table.cursor_row > 2 or table.row_count <= 3

        app.query_one("#workers").focus()  # no entrypoint shown: the browser shows all
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen))
        browser = app.screen
        assert isinstance(browser, JobsScreen)
        await until(pilot, lambda: browser.query_one(DataTable).row_count == 40)
        jobs = browser.query_one(DataTable)
        await pilot.press("G")
        assert jobs.cursor_row == 39
        await pilot.press("home")
        assert jobs.cursor_row == 0
        # In the filter field Home/End and g are the field's: a cursor move and a letter.
        field = browser.query_one("#entry", Input)
        field.focus()
        field.value = "entry"
        field.cursor_position = 5
        await pilot.pause()
        assert app.focused is field
        await pilot.press("home")
        assert field.cursor_position == 0
        await pilot.press("g")
        assert field.value == "gentry"

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, JobsScreen))
        app.open_job(jobs_first := int(str(jobs.coordinate_to_cell_key((0, 0)).row_key.value)))
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert jobs_first > 0
        scroll = app.screen.query_one("VerticalScroll")
        await until(pilot, lambda: scroll.max_scroll_y > 0)  # 200 lines: more than a screen
        await pilot.press("G")
        await until(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y)
        await pilot.press("g")
        await until(pilot, lambda: scroll.scroll_y == 0)


async def test_the_sorted_column_carries_the_direction_mark(make_app: Factory) -> None:
    app = make_app(watch=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        header = screen_text(app)
        assert "entrypoint ▲" in header and "due ▼" not in header
        await pilot.press("s")
        await pilot.pause()
        header = screen_text(app)
        assert "due ▼" in header and "entrypoint ▲" not in header


async def test_plus_stops_at_the_maximum_concurrency(make_app: Factory, settings: Settings) -> None:
    settings.engine.concurrency = 200
    manager = QueueManager(settings)
    app = make_app(manager=manager, watch=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("plus")
        assert manager.concurrency == 256
        await pilot.press("plus", "plus")
        assert manager.concurrency == 256
        assert "embedded worker concurrency is at its maximum, 256" in str(notifications(app))
        await pilot.press("minus")
        assert manager.concurrency == 200


async def test_a_repeated_toast_counts_instead_of_stacking(make_app: Factory) -> None:
    app = make_app(watch=False)
    async with app.run_test(size=(160, 48)) as pilot:
        app.query_one("#queues").focus()
        await pilot.press("w", "w", "w", "w", "w")
        await pilot.pause()
        assert notifications(app) == ["no embedded worker: start pgqtop with --factory (x5)"]
        await pilot.press("s")
        await pilot.pause()
        assert len(notifications(app)) == 2


async def test_read_only_footer_and_help_do_not_advertise_write_keys(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue("send_email", None, 0)
    app = make_app(read_only=True)
    async with app.run_test(size=(200, 48)) as pilot:
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "queued") is not None)
        app.query_one("#queues").focus()
        await pilot.pause()
        footer = {key.action for key in app.screen.query(FooterKey)}
        assert "jobs" in footer
        assert not footer & keys.WRITE_ACTIONS
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = screen_text(app)
        assert "Browse jobs" in text
        for command in keys.COMMANDS:
            if command.writes:
                assert command.help not in text, command.key


async def test_a_toast_from_another_thread_arrives_literal(make_app: Factory) -> None:
    app = make_app(watch=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await asyncio.to_thread(app.notify, "from [b]a thread[/b]", markup=True)
        await until(pilot, lambda: "from [b]a thread[/b]" in notifications(app))
        assert not [n for n in app._notifications if n.markup]
