"""An idle console redraws only the ages that tick: no pane is rendered again for a poll that
brought back what it already shows, and a ticking age redraws its row, not its whole table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widgets import DataTable

from pgqtop.db.console import ConsoleQueries
from pgqtop.model import Event
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.events import EventsPane
from pgqtop.tui.panes.failures import FailuresPane
from pgqtop.tui.panes.queues import QueuesPane
from pgqtop.tui.panes.throughput import ThroughputPane
from tests.tui.conftest import cell_text, until
from tests.tui.test_failures_pane import fail_jobs

Factory = Callable[..., PgqtopApp]
ENTRYPOINTS = [f"idle_{n}" for n in range(6)]
WATCHED = 7.0
"""Seconds of idle watching: several clock ticks, at least one of every poll."""


def counting(calls: dict[str, int], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return method(*args, **kwargs)

    return counted


def whole_table_updates(table: DataTable[Any]) -> int:
    """DataTable's update counter: it is in every cached line's key, so each bump renders the
    whole table again."""
    count: int = table._update_count
    return count


async def test_an_idle_console_redraws_only_its_ticking_ages(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    await fail_jobs(queries, [f"ValueError: bad address {n}" for n in range(15)])
    await queries.enqueue(ENTRYPOINTS * 5)
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        queues, failures = app.query_one(QueuesPane), app.query_one(FailuresPane)
        chart, events = app.query_one(ThroughputPane), app.query_one(EventsPane)
        await until(pilot, lambda: failures.row_count == 15 and queues.row_count == 7)
        newest = str(failures.coordinate_to_cell_key((0, 0)).row_key.value)
        # The failures just made are in the chart; over a day's window of 15-minute buckets
        # the chart has nothing to move while the test watches (but a bucket's end).
        await pilot.press("4")
        await pilot.pause(5.0)  # the first of every poll has landed

        calls = {"chart": 0, "events": 0, "queue lines": 0}
        chart.render = counting(calls, "chart", chart.render)  # type: ignore[method-assign]
        queues.render_line = counting(calls, "queue lines", queues.render_line)  # type: ignore[method-assign]
        events.render_state = counting(calls, "events", events.render_state)  # type: ignore[method-assign]
        updates = (whole_table_updates(queues), whole_table_updates(failures))
        ages = (
            cell_text(app, "failures", newest, "age"),
            cell_text(app, "queues", "idle_0", "oldest"),
        )
        await pilot.pause(WATCHED)

        assert ages[0] and ages[1], "the age columns are on screen"
        later = (
            cell_text(app, "failures", newest, "age"),
            cell_text(app, "queues", "idle_0", "oldest"),
        )
        assert later[0] != ages[0] and later[1] != ages[1], (ages, later)
        assert (whole_table_updates(queues), whole_table_updates(failures)) == updates
        assert calls["events"] == 0
        assert calls["chart"] <= 1, calls
        # Six rows whose age ticks, each redrawn about once a second: not the pane's height.
        assert calls["queue lines"] <= 6 * (WATCHED + 2), calls
        # What the operator sees is the new age.
        assert later[0] in str(failures.render_line(failures.header_height).text)


async def test_a_busy_queue_redraws_its_pane_about_once_a_second(make_app: Factory) -> None:
    """Jobs flowing change the counts many times a second: the pane draws them all at once,
    about once a second, and shows the latest."""
    app = make_app(watch=False)
    async with app.run_test(size=(200, 50)) as pilot:
        queues = app.query_one(QueuesPane)
        app.state.apply_event(Event("insert", {"busy": {"queued": 1}}))
        await until(pilot, lambda: cell_text(app, "queues", "busy", "queued") == "1")
        calls = {"queues": 0}
        queues.render_state = counting(calls, "queues", queues.render_state)  # type: ignore[method-assign]
        for _ in range(60):  # three seconds of news every 50 ms
            app.state.apply_event(Event("insert", {"busy": {"queued": 1}}))
            await pilot.pause(0.05)
        assert calls["queues"] <= 5, calls
        await until(pilot, lambda: cell_text(app, "queues", "busy", "queued") == "61")


async def test_a_quiet_chart_is_not_drawn_again_while_its_window_slides(
    make_app: Factory, queries: ConsoleQueries
) -> None:
    """A minute's window of 1-second buckets moves every second, but with no completions in it
    the chart shows the same thing: the figure is worked out again, and not drawn again (not
    even by setting the same title)."""
    await queries.enqueue(["quiet"])
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        chart = app.query_one(ThroughputPane)
        await until(pilot, lambda: cell_text(app, "queues", "quiet", "queued") == "1")
        await pilot.pause(3.0)  # the first of every poll has landed
        assert app.state.chart_window.label == "1m"
        assert not any(any(ys) for _, ys in chart.plotted.values()), "nothing completed"
        calls = {"chart": 0, "drawn": 0}
        chart.render = counting(calls, "chart", chart.render)  # type: ignore[method-assign]
        chart._draw = counting(calls, "drawn", chart._draw)  # type: ignore[method-assign]
        await until(pilot, lambda: calls["drawn"] >= 1, 15.0)
        await pilot.pause(0.5)  # a refresh would have been rendered by now
        assert calls["chart"] == 0, calls
