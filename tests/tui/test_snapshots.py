"""Pictures of the main screen, the failure detail and the jobs browser, pinned as SVG
snapshots. Everything time-dependent comes from a fixed clock: seeded state for the main
screen, seeded rows (and a clock set relative to them) for the detail screens."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import (
    FailureSummary,
    PauseInfo,
    QueueDepth,
    ScheduleInfo,
    SeriesPoint,
    WorkerInfo,
)
from pgqtop.model import Event
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.queues import QueuesPane
from pgqtop.tui.screens.detail import DetailScreen
from pgqtop.tui.screens.jobs import JobsScreen
from tests.tui.conftest import make_failure, until

FIXED = 1_750_000_000.0
SIZE = (160, 48)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def at(seconds_ago: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(FIXED - seconds_ago, dt.UTC)


def depths(send_email: int, resize_image: int, nightly_report: int) -> list[QueueDepth]:
    """The three queues as counted: send_email has retries waiting out their backoff."""
    read = at(0)
    return [
        QueueDepth("nightly_report", nightly_report, 0, 0, 4000.0, None, read),
        QueueDepth("resize_image", resize_image, 0, 8, 40.0, None, read),
        QueueDepth("send_email", send_email, 3, 25, 95.0, 3240.0, read),
    ]


def seed_main(app: PgqtopApp) -> None:
    """A believable moment: one queue draining, one growing, one paused, a stale worker, two
    timetables."""
    state = app.state
    state.database = "postgres@db.internal:5432/jobs"
    state.server_version = "16.4"
    state.connection = "connected"
    for seconds_ago, counts in ((30.0, (900, 40, 80)), (0.0, (600, 400, 80))):
        clock_then = FIXED - seconds_ago
        state.clock = lambda t=clock_then: t
        state.apply_counts(depths(*counts))
    state.clock = lambda: FIXED
    state.apply_outcomes(
        {
            ("send_email", "successful"): 1180,
            ("send_email", "exception"): 20,
            ("resize_image", "successful"): 300,
        }
    )
    state.apply_failure_counts({"send_email": 12})
    state.apply_paused([PauseInfo("nightly_report", at(60), at(-840), "ops", "maintenance", 840.0)])
    state.apply_schedules(
        [
            ScheduleInfo("nightly_report", "0 3 * * *", at(-3720), at(82_800), 3720.0, at(0)),
            ScheduleInfo("rotate_keys", "@every 20s", at(-12), at(8), 12.0, at(0)),
        ]
    )
    series = []
    for second in range(60):
        wave = 15 + (second % 10)
        series.append(
            SeriesPoint(
                at(60 - second), "send_email", "successful", wave, wave * 0.4, 1.2, wave * 0.05, 0.3
            )
        )
        series.append(
            SeriesPoint(
                at(60 - second), "resize_image", "successful", 5 + second % 3, 2.0, 0.9, 1.5, 0.8
            )
        )
        if second % 7 == 0:
            series.append(
                SeriesPoint(at(60 - second), "send_email", "exception", 2, 0.5, 0.3, 0.2, 0.1)
            )
    state.apply_series(series)
    state.apply_workers(
        [
            WorkerInfo(
                uuid.UUID(int=1),
                "web-1",
                4242,
                "0.1.0",
                ["send_email", "resize_image"],
                200,
                at(3600),
                at(2),
                33,
                51234,
                120,
                "running",
                2.0,
            ),
            WorkerInfo(
                uuid.UUID(int=2),
                "batch-7",
                917,
                "0.1.0",
                ["nightly_report"],
                4,
                at(7200),
                at(95),
                0,
                310,
                0,
                "running",
                95.0,
            ),
        ]
    )
    state.apply_failures(
        [
            FailureSummary(
                12 - i,
                900 + i,
                "send_email",
                0,
                3,
                "exception",
                True,
                "SMTPServerDisconnected: Connection unexpectedly closed",
                at(30 + 40 * i),
                None,
            )
            for i in range(4)
        ]
    )
    for text, ago in (("pause nightly_report", 60), ("send_email +120 queued", 9)):
        state.clock = lambda a=ago: FIXED - a
        state.add_event(text, "control" if text.startswith("pause") else "change")
    state.clock = lambda: FIXED
    state.apply_event(Event("update", {"send_email": {"queued": -40, "picked": 40}}))
    state.flush_events()
    state.apply_counts(depths(600, 400, 80))
    app.repaint(force=True)


def test_main_screen(snap_compare: Callable[..., bool], make_app: Callable[..., PgqtopApp]) -> None:
    app = make_app(watch=False, theme="midnight", clock=lambda: FIXED)

    async def seed(pilot: Pilot[Any]) -> None:
        seed_main(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=seed)


@pytest.mark.parametrize(
    "size", [(80, 24), (120, 40), (200, 50)], ids=["80x24", "120x40", "200x50"]
)
def test_main_screen_at_each_size(
    snap_compare: Callable[..., bool], make_app: Callable[..., PgqtopApp], size: tuple[int, int]
) -> None:
    """The essentials stay at every size: a small terminal drops columns, a wide one gives
    the room to what needs it."""
    app = make_app(watch=False, theme="midnight", clock=lambda: FIXED)

    async def seed(pilot: Pilot[Any]) -> None:
        seed_main(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=seed)


async def test_failure_detail_screen(
    snap_compare: Callable[..., bool], make_app: Callable[..., PgqtopApp], queries: ConsoleQueries
) -> None:
    await make_failure(queries, worker=uuid.UUID(int=7))
    detail = await queries.failure_detail(1)
    assert detail is not None
    failed = detail.failed_at.timestamp()
    app = make_app(theme="midnight", clock=lambda: failed + 95)

    async def open_detail(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.query_one("#failures", DataTable).row_count == 1)
        app.open_failure(1)
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause()

    assert await snap_compare_async(snap_compare, app, open_detail)


async def test_jobs_browser_screen(
    snap_compare: Callable[..., bool], make_app: Callable[..., PgqtopApp], queries: ConsoleQueries
) -> None:
    names = ["send_email", "resize_image", "nightly_report"]
    await queries.enqueue(
        [names[i % 3] for i in range(30)],
        [f'{{"n": {i}}}'.encode() for i in range(30)],
        [i % 4 for i in range(30)],
    )
    created = (await queries.browse_jobs(limit=1))[0].created.timestamp()
    app = make_app(theme="paper", clock=lambda: created + 125)

    async def open_jobs(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.watcher.queries is not None)
        # `j` browses the entrypoint selected in the queues pane: wait for the pane's rows so
        # the selection (the first row, nightly_report) is the same on every run.
        await until(pilot, lambda: app.query_one(QueuesPane).selected_entrypoint is not None)
        await pilot.press("j")
        await until(
            pilot, lambda: isinstance(app.screen, JobsScreen) and len(app.screen.jobs) == 10
        )
        # Column widths follow the rows on a later refresh; the picture wants them settled.
        table = app.screen.query_one("#jobs", DataTable)
        await until(pilot, lambda: table.columns["entrypoint"].content_width >= len(names[2]))
        await pilot.pause()

    assert await snap_compare_async(snap_compare, app, open_jobs)


async def snap_compare_async(
    snap_compare: Callable[..., bool], app: PgqtopApp, run_before: Callable[[Pilot[Any]], Any]
) -> bool:
    """snap_compare runs its own event loop; give it a thread so this test's loop may wait."""
    import asyncio

    return await asyncio.to_thread(snap_compare, app, terminal_size=SIZE, run_before=run_before)
