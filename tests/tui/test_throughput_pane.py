"""The throughput chart against a real database: a gap in completions is plotted as zeros
(checked in the data handed to plotext, not in pixels), pauses are marked, and the queue
history view draws the due jobs the workers sampled."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from psycopg import sql

from pgqtop import operations
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.throughput import ThroughputPane
from tests.tui.conftest import screen_text, until

Factory = Callable[..., PgqtopApp]


class Recorder:
    """Stands between the pane and plotext, keeping every line and mark it is given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, plt: Any) -> None:
        self.lines: dict[str, tuple[list[float], list[float]]] = {}
        self.vlines: list[float] = []
        self.ylim: tuple[float, float] | None = None
        self.bars: dict[str, list[float]] = {}
        self.bar_names: list[str] = []
        plot, vline, ylim, bars = plt.plot, plt.vline, plt.ylim, plt.multiple_bar

        def record_bars(names: list[str], values: list[list[float]], **kwargs: Any) -> Any:
            self.bar_names = list(names)
            self.bars = dict(zip(kwargs["labels"], values, strict=True))
            return bars(names, values, **kwargs)

        def record_plot(*args: Any, **kwargs: Any) -> Any:
            self.lines[str(kwargs.get("label"))] = (list(args[0]), list(args[1]))
            return plot(*args, **kwargs)

        def record_vline(x: float, *args: Any, **kwargs: Any) -> Any:
            self.vlines.append(x)
            return vline(x, *args, **kwargs)

        def record_ylim(low: float, high: float) -> Any:
            self.ylim = (low, high)
            return ylim(low, high)

        monkeypatch.setattr(plt, "plot", record_plot)
        monkeypatch.setattr(plt, "vline", record_vline)
        monkeypatch.setattr(plt, "ylim", record_ylim)
        monkeypatch.setattr(plt, "multiple_bar", record_bars)


async def add_completions(queries: ConsoleQueries, seconds_ago: int, count: int) -> None:
    """A statistics row as a worker's completion writes it, at a second in the past."""
    statement = sql.SQL(
        "INSERT INTO {} (created, entrypoint, status, priority, count)"
        " VALUES (date_trunc('second', now()) - make_interval(secs => %s), %s,"
        " 'successful', 0, %s)"
    ).format(sql.Identifier(queries.names.statistics))
    await queries.conn.execute(statement, (seconds_ago, "send_email", count))


async def test_a_gap_in_completions_plots_zeros_from_a_zero_axis_with_pauses_marked(
    make_app: Factory, queries: ConsoleQueries, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_completions(queries, 50, 30)
    await add_completions(queries, 8, 30)
    await operations.pause(queries, "send_email")
    await operations.resume(queries, "send_email")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(ThroughputPane)
        recorder = Recorder(monkeypatch, pane.plt)
        app.state.touch()
        await until(pilot, lambda: "send_email" in recorder.lines and len(recorder.vlines) == 2)
        xs, ys = recorder.lines["send_email"]
        assert len(xs) == len(ys) == 60
        assert sorted(ys)[-2:] == [30.0, 30.0]
        busy = [i for i, y in enumerate(ys) if y]
        assert len(busy) == 2 and busy[1] - busy[0] in (41, 42, 43)
        # Every second between the two is drawn at zero, not joined by a ramp.
        assert all(y == 0.0 for y in ys[busy[0] + 1 : busy[1]])
        assert recorder.ylim is not None and recorder.ylim[0] == 0
        # Paused and resumed moments ago: marked in the last seconds of the minute.
        assert all(-15.0 <= x <= 0.0 for x in recorder.vlines), recorder.vlines


async def test_the_history_view_draws_the_sampled_due_jobs(
    make_app: Factory, queries: ConsoleQueries, monkeypatch: pytest.MonkeyPatch
) -> None:
    await queries.enqueue(["send_email"] * 7 + ["resize_image"] * 2, None, 0)
    sampler = WorkerQueries(queries.conn, queries.names)
    claim = await sampler.sample_history(
        uuid.uuid4(), interval=10.0, retention_seconds=86400.0, cost_factor=50.0
    )
    assert claim is not None
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(ThroughputPane)
        recorder = Recorder(monkeypatch, pane.plt)
        for _ in range(3):
            await pilot.press("c")
        await until(pilot, lambda: "due jobs by entrypoint" in screen_text(app))
        await until(pilot, lambda: "send_email" in recorder.lines)
        assert recorder.lines["send_email"][1] == [7.0]
        assert recorder.lines["resize_image"][1] == [2.0]
        await pilot.press("c")
        await until(pilot, lambda: "oldest due job" in screen_text(app))


async def test_the_latency_view_draws_wait_and_run_percentiles_per_entrypoint(
    make_app: Factory,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = await queries.enqueue(["send_email"] * 20, None, 0)
    worker = uuid.uuid4()
    jobs = await worker_queries.dequeue({"send_email": 20}, 20, worker, 30.0)
    assert len(jobs) == 20
    await worker_queries.complete([Outcome(i, Status.SUCCESSFUL, 0.25) for i in ids], worker)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(ThroughputPane)
        recorder = Recorder(monkeypatch, pane.plt)
        await pilot.press("c", "c")
        await until(pilot, lambda: "p50 and p95" in screen_text(app))
        await until(pilot, lambda: recorder.bar_names == ["send_email"])
        assert set(recorder.bars) == {"wait p50", "wait p95", "run p50", "run p95"}
        # 0.25 s of run time lands in the histogram bucket around it (within about 1.58x).
        (run_p50,) = recorder.bars["run p50"]
        assert 0.25 / 1.6 <= run_p50 <= 0.25 * 1.6
        assert recorder.bars["run p95"][0] >= run_p50
        assert recorder.ylim is not None and recorder.ylim[0] == 0
