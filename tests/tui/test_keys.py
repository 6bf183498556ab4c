"""Every key, driven through Pilot against the real database: the effect in the tables, and
what the screen says about it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from pgqtop import operations
from pgqtop.config import ObjectNames, Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.tui import keys
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.queues import QueuesPane
from pgqtop.tui.screens.detail import DetailScreen
from pgqtop.tui.screens.dialogs import ConfirmScreen
from pgqtop.tui.screens.help import HelpScreen
from pgqtop.tui.screens.jobs import JobsScreen
from tests.test_cli_admin import cli, target
from tests.test_schema import sq
from tests.tui.conftest import cell_text, make_failure, notifications, screen_text, until

Factory = Callable[..., PgqtopApp]


async def ready(pilot: Pilot[Any], app: PgqtopApp, entrypoint: str = "send_email") -> None:
    """Wait until the queues pane lists the entrypoint and the cursor can act on it."""
    await until(pilot, lambda: app.watcher.queries is not None)
    await until(pilot, lambda: cell_text(app, "queues", entrypoint, "queued") is not None)
    table = app.query_one("#queues")
    table.focus()
    keys = [row.value for row in table.rows]  # type: ignore[attr-defined]
    table.move_cursor(row=keys.index(entrypoint))  # type: ignore[attr-defined]


def paused_cell(app: PgqtopApp, entrypoint: str) -> bool:
    """Whether the queues row shows a pause (its forecast is then the pause's context)."""
    return "‖" in (cell_text(app, "queues", entrypoint, "forecast") or "‖")


async def test_p_pauses_the_selected_entrypoint_fleet_wide_and_again_resumes(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue(["send_email", "resize_image"], None, 0)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        await pilot.press("p")
        await until(
            pilot, lambda: "paused" in (cell_text(app, "queues", "send_email", "forecast") or "")
        )
        assert [p.entrypoint for p in await queries.paused()] == ["send_email"]
        assert not paused_cell(app, "resize_image")
        await pilot.press("p")
        await until(
            pilot, lambda: "‖" not in (cell_text(app, "queues", "send_email", "forecast") or "‖")
        )
        assert await queries.paused() == []


async def test_shift_p_pauses_everything_with_the_star_row(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue(["send_email", "resize_image"], None, 0)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        await pilot.press("P")
        await until(
            pilot, lambda: "paused" in (cell_text(app, "queues", "resize_image", "forecast") or "")
        )
        assert [p.entrypoint for p in await queries.paused()] == ["*"]
        await pilot.press("P")
        await until(
            pilot, lambda: "‖" not in (cell_text(app, "queues", "resize_image", "forecast") or "‖")
        )
        assert await queries.paused() == []


async def test_timed_pause_sets_paused_until_and_shows_the_time_left(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue("send_email", None, 0)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        await pilot.press("T")
        await until(pilot, lambda: "Pause send_email for" in screen_text(app))
        await pilot.press("2")
        await until(
            pilot, lambda: "14m" in (cell_text(app, "queues", "send_email", "forecast") or "")
        )
        (info,) = await queries.paused()
        assert info.remaining_seconds is not None and 880 < info.remaining_seconds <= 900


async def test_d_purges_only_after_confirming_the_exact_count(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue(["send_email"] * 7 + ["resize_image"], None, 0)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Delete 7 queued jobs of send_email?" in screen_text(app)
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert await queries.count_matching(["send_email"]) == 7
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "queued") == "0")
        assert await queries.count_matching(["send_email"]) == 0
        assert await queries.count_matching(["resize_image"]) == 1
        assert any("purged 7 queued jobs" in n for n in notifications(app))


async def test_shift_d_purges_every_queued_job_after_confirming(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue(["send_email"] * 2 + ["resize_image"] * 3, None, 0)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        await pilot.press("D")
        await until(pilot, lambda: "Delete 5 queued jobs of every entrypoint?" in screen_text(app))
        await pilot.press("y")
        await until(pilot, lambda: cell_text(app, "queues", "resize_image", "queued") == "0")
        assert await queries.count_matching() == 0


async def test_r_requeues_the_selected_failure_once(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await make_failure(queries)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.query_one("#failures", DataTable).row_count == 1)
        app.query_one("#failures").focus()
        await pilot.press("r")
        await until(pilot, lambda: any("requeued failure" in n for n in notifications(app)))
        jobs = await queries.browse_jobs(entrypoint="send_email")
        assert [(j.status, j.payload) for j in jobs] == [("queued", b'{"to": "ops@example.com"}')]
        await until(pilot, lambda: "requeued" in screen_text(app))
        await pilot.press("r")
        await until(pilot, lambda: any("already requeued" in n for n in notifications(app)))
        assert len(await queries.browse_jobs(entrypoint="send_email")) == 1


async def test_shift_r_requeues_all_failures_of_an_entrypoint_after_confirming(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await make_failure(queries)
    await make_failure(queries)
    await make_failure(queries, "resize_image")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: len(app.state.failures) == 3)
        await ready(pilot, app)
        await pilot.press("R")
        await until(pilot, lambda: "Requeue 2 failed jobs of send_email" in screen_text(app))
        await pilot.press("y")
        await until(pilot, lambda: any("requeued 2 failed" in n for n in notifications(app)))
        assert await queries.count_matching(["send_email"]) == 2
        assert await queries.count_matching(["resize_image"]) == 0


async def test_x_in_the_jobs_browser_sends_cancel_for_the_running_job(
    make_app: Factory, queries: ConsoleQueries, worker_queries: WorkerQueries, settings: Settings
) -> None:
    import uuid

    (job_id,) = await queries.enqueue("send_email", None, 0)
    await worker_queries.dequeue({"send_email": 1}, 1, uuid.uuid4(), 30.0)
    listener = await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True)
    await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(settings.names.channel)))
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        await pilot.press("x")  # on the main screen there is no job under the cursor
        await until(pilot, lambda: "x cancels a running job" in str(notifications(app)))
        assert not isinstance(app.screen, JobsScreen)
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen))
        await until(pilot, lambda: str(job_id) in screen_text(app))
        assert "picked" in screen_text(app)
        await pilot.press("x")
        got: list[str] = []

        async def first_cancel() -> None:
            async for notify in listener.notifies():
                if '"cancel"' in notify.payload:
                    got.append(notify.payload)
                    return

        await asyncio.wait_for(first_cancel(), 5)
        assert f'"job_ids": [{job_id}]' in got[0]
    await listener.close()


async def test_e_enqueues_a_job_from_the_form(make_app: Factory, queries: ConsoleQueries) -> None:
    await queries.enqueue("send_email", None, 0)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        await pilot.press("e")
        await until(pilot, lambda: "Enqueue a job" in screen_text(app))
        await pilot.press("tab")  # entrypoint is prefilled from the selection
        for key in '{"n":1}':
            await pilot.press(key)
        await pilot.press("tab", "backspace", "7", "enter")
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "queued") == "2")
        jobs = await queries.browse_jobs(entrypoint="send_email")
        assert (jobs[-1].payload, jobs[-1].priority) == (b'{"n":1}', 7)


async def test_view_keys_theme_chart_window_filter_freeze_help(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue(["send_email", "resize_image"], None, 0)
    app = make_app(theme="midnight")
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        before = app.theme
        await pilot.press("t")
        assert app.theme != before and app.theme in app.theme_set.names
        await pilot.press("2")
        await until(pilot, lambda: "· 15m" in screen_text(app))
        await pilot.press("4")
        await until(pilot, lambda: "· 24h" in screen_text(app))
        await pilot.press("c")
        await until(pilot, lambda: "successes vs failures" in screen_text(app))
        await pilot.press("slash")
        for key in "resize":
            await pilot.press(key)
        await pilot.press("enter")
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "queued") is None)
        assert cell_text(app, "queues", "resize_image", "queued") == "1"
        await pilot.press("space")
        await until(pilot, lambda: "FROZEN" in screen_text(app).splitlines()[0])
        await queries.enqueue("resize_image", None, 0)
        await until(pilot, lambda: app.state.queues["resize_image"].due == 2)
        await pilot.pause(0.5)
        assert cell_text(app, "queues", "resize_image", "queued") == "1"  # frozen display
        await pilot.press("space")
        await until(pilot, lambda: cell_text(app, "queues", "resize_image", "queued") == "2")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "Pause or resume the selected entrypoint" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_code == 0


async def test_j_browses_jobs_and_enter_opens_the_detail(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await queries.enqueue(["send_email"] * 60, [b"\xff\x00binary"] * 60, 0, headers={"t": 1})
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        await pilot.press("j")
        await until(pilot, lambda: "page 1 · 50 jobs" in screen_text(app))
        await pilot.press("n")
        await until(pilot, lambda: "page 2 · 10 jobs" in screen_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = screen_text(app)
        assert "Job 51 · send_email · queued" in text
        assert "Payload (hex, 8 bytes)" in text and "ff 00 62 69" in text
        await pilot.press("escape")
        await pilot.press("b")
        await until(pilot, lambda: "page 1 · 50 jobs" in screen_text(app))


async def test_enter_on_a_failure_shows_payload_headers_and_traceback(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await make_failure(queries)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.query_one("#failures", DataTable).row_count == 1)
        app.query_one("#failures").focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = screen_text(app)
        assert "ValueError: bad address" in text
        assert '"to": "ops@example.com"' in text
        assert "Traceback: ..." in text


async def test_command_palette_lists_every_console_command(make_app: Factory) -> None:
    app = make_app(watch=False)
    async with app.run_test(size=(160, 48)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Purge all (D)" in titles and "Pause for… (T)" in titles
        await pilot.press("q")


@pytest.mark.parametrize("key", ["p", "d", "e"])
async def test_read_only_refuses_writes_in_the_ui_and_the_database(
    make_app: Factory, queries: ConsoleQueries, key: str
) -> None:
    await queries.enqueue("send_email", None, 0)
    app = make_app(read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        assert "READ-ONLY" in screen_text(app).splitlines()[0]
        await pilot.press(key)
        await until(pilot, lambda: any("read-only session" in n for n in notifications(app)))
        assert await queries.paused() == []
        assert await queries.count_matching() == 1
        own = app.watcher.queries
        assert own is not None
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await own.pause(["send_email"])


def palette_titles(app: PgqtopApp) -> list[str]:
    return [c.title for c in app.get_system_commands(app.screen)]


async def test_console_and_cli_pauses_record_the_same_operator_and_their_reason(
    make_app: Factory,
    queries: ConsoleQueries,
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    await queries.enqueue(["send_email", "resize_image"], None, 0)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        await pilot.press("p")
        await until(pilot, lambda: any("paused send_email" in n for n in notifications(app)))
    await asyncio.to_thread(
        cli, capsys, "pause", "resize_image", "--reason", "deploy", *target(dsn, names)
    )
    rows = sync_conn.execute(
        sq("SELECT entrypoint, paused_by, reason FROM {control} ORDER BY entrypoint", names)
    ).fetchall()
    me = operations.operator_identity()
    assert rows == [("resize_image", me, "deploy"), ("send_email", me, "console")]


async def test_read_only_hides_every_write_key_and_pressing_one_only_says_why(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await make_failure(queries)
    await queries.enqueue("send_email", None, 0)
    app = make_app(read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        main = app.screen
        await until(pilot, lambda: bool(main.query(FooterKey)))
        shown = {key.action for key in main.query(FooterKey)}
        for command in keys.COMMANDS:
            if command.footer and command.applies(app.where()):
                assert (command.action in shown) is not command.writes, command.action
        titles = palette_titles(app)
        assert "Jobs (j)" in titles and "Sort (s)" in titles
        assert not [c for c in keys.COMMANDS if c.writes and f"{c.title} (" in str(titles)]

        for command in keys.COMMANDS:
            if not command.writes:
                continue
            said = f"read-only session: {command.title.lower()} is disabled"
            await pilot.press(command.key)
            # By its text: under load an earlier toast may expire meanwhile.
            await until(pilot, lambda said=said: said in notifications(app))
            assert app.screen is main  # no dialog, no browser: nothing started
        # Run by name (as the palette would) it is refused the same way, silently.
        assert not await app.run_action("purge_all")
        await pilot.pause(0.3)
        assert app.screen is main
    assert await queries.paused() == []
    assert await queries.count_matching() == 1
    assert await queries.count_requeueable("send_email") == 1


async def test_write_keys_are_live_in_a_normal_session(make_app: Factory) -> None:
    app = make_app(watch=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: bool(app.screen.query(FooterKey)))
        shown = {key.action: key for key in app.screen.query(FooterKey)}
        assert not shown["toggle_pause"].has_class("-disabled")
        assert not shown["purge"].has_class("-disabled")
        assert "Purge (d)" in palette_titles(app)


async def test_s_sorts_the_queues_and_is_in_help_and_the_palette(make_app: Factory) -> None:
    app = make_app(watch=False)
    async with app.run_test(size=(160, 48)) as pilot:
        assert "Sort (s)" in palette_titles(app)
        await pilot.press("s")
        assert app.query_one(QueuesPane).sort_by == "queued"
        assert "queues sorted by due" in notifications(app)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert re.search(r"\bs +Change the queues sort column", screen_text(app))


async def test_requeue_all_and_purge_all_show_the_exact_count_and_no_changes_nothing(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await make_failure(queries)
    await make_failure(queries)
    await queries.enqueue(["resize_image"] * 3, None, 0)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: len(app.state.failures) == 2)
        await ready(pilot, app)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Requeue 2 failed jobs of send_email as new jobs?" in screen_text(app)
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await until(pilot, lambda: "nothing changed" in notifications(app))
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Delete 3 queued jobs of every entrypoint?" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.3)
    assert await queries.count_requeueable("send_email") == 2
    assert await queries.count_matching() == 3
