"""The failures pane follows the newest failure, holds where the operator put it, keeps its
place through a resize, and groups failures by fingerprint."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from textual.widgets import DataTable

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.failures import FailuresPane, error_text
from pgqtop.tui.panes.tables import selected_key
from pgqtop.tui.screens.detail import DetailScreen
from tests.tui.conftest import notifications, screen_text, until

Factory = Callable[..., PgqtopApp]


async def fail_jobs(
    queries: ConsoleQueries, errors: Sequence[str], entrypoint: str = "send_email"
) -> list[int]:
    """Enqueue, take and fail one job per error, for real, in one batch; returns the failure
    ids, newest last."""
    ids = await queries.enqueue([entrypoint] * len(errors), None, 0)
    worker = uuid.uuid4()
    worker_queries = WorkerQueries(queries.conn, queries.names)
    jobs = await worker_queries.dequeue({entrypoint: len(ids)}, len(ids), worker, 30.0)
    assert sorted(j.id for j in jobs) == sorted(ids)
    outcomes = [
        Outcome(job_id, Status.EXCEPTION, 0.01, error, f"Traceback of {job_id}\n{error}")
        for job_id, error in zip(ids, errors, strict=True)
    ]
    await worker_queries.complete(outcomes, worker)
    found = await queries.list_failures(limit=1000)
    return sorted(f.id for f in found if f.job_id in ids)


def pane(app: PgqtopApp) -> FailuresPane:
    return app.query_one(FailuresPane)


def title(app: PgqtopApp) -> str:
    return str(pane(app).border_title)


def row_keys(table: DataTable[Any]) -> list[str]:
    return [str(key.value) for key in table.rows]


async def test_the_pane_follows_new_failures_holds_when_moved_and_home_follows_again(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    first = await fail_jobs(queries, ["ValueError: bad address"] * 30)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        failures = pane(app)
        await until(pilot, lambda: failures.row_count == 30)
        assert selected_key(failures) == str(first[-1])
        assert "following" in title(app)

        # A stream of new failures: the cursor moves to each newest one.
        for _ in range(3):
            newer = await fail_jobs(queries, ["ValueError: bad address"] * 5)
            app.watcher.poke()
            await until(pilot, lambda newest=newer[-1]: selected_key(failures) == str(newest))
            assert failures.cursor_row == 0 and failures.scroll_y == 0
        assert failures.row_count == 45

        # The operator moves down: that failure is held while more arrive.
        failures.focus()
        await pilot.press("down", "down", "down")
        held = selected_key(failures)
        assert held is not None and held != str(newer[-1])
        await until(pilot, lambda: f"held at #{held}" in title(app))
        assert "Home to follow" in title(app)
        latest = await fail_jobs(queries, ["ValueError: bad address"] * 4)
        app.watcher.poke()
        await until(pilot, lambda: failures.row_count == 49)
        await pilot.pause()
        assert selected_key(failures) == held
        assert f"held at #{held}" in title(app)

        # Home follows again, End goes to the oldest and holds there, `g` follows too.
        await pilot.press("home")
        assert selected_key(failures) == str(latest[-1])
        assert "following" in title(app)
        await pilot.press("end")
        assert failures.cursor_row == failures.row_count - 1
        assert f"held at #{selected_key(failures)}" in title(app)
        await pilot.press("g")
        assert selected_key(failures) == str(latest[-1]) and "following" in title(app)
        await pilot.press("G")
        assert failures.cursor_row == failures.row_count - 1


async def test_a_resize_keeps_the_newest_first_order_and_the_top_in_view(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    ids = await fail_jobs(queries, ["ValueError: bad address"] * 30)
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        failures = pane(app)
        await until(pilot, lambda: failures.row_count == 30)
        # Ten more arrive while the operator watches, then the terminal changes size.
        ids += await fail_jobs(queries, ["ValueError: bad address"] * 10)
        app.watcher.poke()
        await until(pilot, lambda: failures.row_count == 40)
        for size in ((120, 40), (80, 24), (200, 50), (100, 30)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            assert row_keys(failures) == [str(i) for i in reversed(ids)], size
            assert failures.scroll_y == 0, size
            assert selected_key(failures) == str(ids[-1]), size
            assert f"{ids[-1]}" in screen_text(app), size


async def test_grouped_mode_counts_by_fingerprint_opens_a_sample_and_requeues_a_group(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await fail_jobs(
        queries,
        [f"myapp.mail.errors.BounceError: mailbox {n} is full" for n in range(3)]
        + ["KeyError: 'to'"] * 2,
    )
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        failures = pane(app)
        await until(pilot, lambda: failures.row_count == 5)
        failures.focus()
        await pilot.press("f")
        await until(pilot, lambda: failures.row_count == 2)
        assert "grouped" in title(app)
        counts = sorted(str(failures.get_row_at(i)[0]) for i in range(2))
        assert counts == ["2", "3"]
        text = screen_text(app)
        assert "BounceError: mailbox <n>" in text
        assert "myapp.mail.errors" not in text
        assert "2 groups of 5" in text

        # The biggest group first; Enter shows its latest failure's traceback.
        await pilot.press("home", "enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert "Traceback of" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen))

        # `r` on the group requeues all three after a confirmation with the exact count.
        failures.focus()
        await pilot.press("r")
        await until(pilot, lambda: "Requeue 3 failed jobs" in screen_text(app))
        await pilot.press("y")
        await until(pilot, lambda: any("requeued 3 failed" in n for n in notifications(app)))
        assert len(await queries.browse_jobs(entrypoint="send_email", status="queued")) == 3

        # `d` on the other group deletes its two records, after saying how many.
        await pilot.press("end", "d")
        await until(pilot, lambda: "Delete the 2 failure records" in screen_text(app))
        await pilot.press("y")
        await until(pilot, lambda: any("deleted 2 failure" in n for n in notifications(app)))
        assert len(await queries.list_failures(limit=100)) == 3

        await pilot.press("f")
        await until(pilot, lambda: failures.row_count == 3 and "recent" in title(app))


def test_error_text_drops_the_module_path_and_control_characters() -> None:
    assert error_text("myapp.mail.errors.BounceError: full\nmore") == "BounceError: full"
    assert error_text("ValueError: bad 1.5 value") == "ValueError: bad 1.5 value"
    assert error_text("", "exception") == "exception"
    assert "\x1b" not in error_text("RuntimeError: \x1b[31mred")


async def test_columns_give_way_by_priority_and_the_error_keeps_its_width(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await fail_jobs(queries, ["myapp.mail.errors.BounceError: mailbox of ops@example.com is full"])
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        failures = pane(app)
        await until(pilot, lambda: failures.row_count == 1)
        seen: dict[tuple[int, int], dict[str, int]] = {}
        for size in ((80, 24), (120, 40), (200, 50)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            seen[size] = {str(k.value): c.width for k, c in failures.columns.items()}
            assert "BounceError: mailbox" in screen_text(app), size
            assert "myapp.mail" not in screen_text(app), size
        for widths in seen.values():
            assert {"id", "error"} <= set(widths)
        assert seen[(80, 24)]["error"] >= 20
        assert seen[(120, 40)]["error"] >= 30 and "age" in seen[(120, 40)]
        assert seen[(200, 50)]["error"] >= 30
        assert {"entrypoint", "age"} <= set(seen[(200, 50)])


async def test_database_text_in_the_failures_pane_is_literal(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await fail_jobs(queries, ["Boom: [red]x[/red] \x1b[2J"], entrypoint="[bold]mail")
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: pane(app).row_count == 1)
        text = screen_text(app)
        assert "[bold]mail" in text
        assert "Boom: [red]x[/red] \\x1b[2J" in text
