"""The loops behind the console (the watcher, extra feeders, the embedded engine) run as Textual
workers: they end with the app, and one that fails says so without taking the console down."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pgqtop.tui.app import BACKGROUND, PgqtopApp
from tests.tui.conftest import screen_text, until


async def test_background_loops_are_workers_that_end_with_the_app(
    make_app: Callable[..., PgqtopApp],
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever(stop: asyncio.Event) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    app = make_app(extra_tasks=[forever])
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, started.is_set)
        await until(pilot, lambda: app.watcher.queries is not None)
        background = [w for w in app.workers if w.group == BACKGROUND]
        assert {w.name for w in background if w.is_running} == {"watcher", "extra"}
    # Quitting cancelled every one of them; the feeder saw its cancellation.
    assert all(w.is_cancelled or w.is_finished for w in background)
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_a_failing_loop_is_reported_in_the_events_pane_and_the_console_carries_on(
    make_app: Callable[..., PgqtopApp],
) -> None:
    async def broken(stop: asyncio.Event) -> None:
        raise RuntimeError("the feed broke")

    app = make_app(watch=False, extra_tasks=[broken])
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: "extra stopped: the feed" in screen_text(app))
        (line,) = app.state.events
        assert (line.text, line.kind) == ("extra stopped: the feed broke", "control")
        await pilot.press("space")
        await until(pilot, lambda: "FROZEN" in screen_text(app).splitlines()[0])
