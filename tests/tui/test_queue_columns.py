"""The Queues pane at the terminal sizes operators use: the essential columns always stay,
the others go least important first, and spare width goes to names and pause context."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable

import pytest

from pgqtop.db.rows import PauseInfo, QueueDepth, WorkerInfo
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.queues import COLUMNS, QueuesPane
from tests.tui.conftest import cell_text, screen_text, until

NOW = 1_750_000_000.0
ESSENTIAL = ["entrypoint", "queued", "scheduled", "failed", "oldest", "forecast"]
REASON = "CRM rate limit while the vendor migrates their API to the new cluster"


def at(seconds_ago: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(NOW - seconds_ago, dt.UTC)


def seed(app: PgqtopApp) -> None:
    state = app.state
    state.apply_workers(
        [
            WorkerInfo(
                uuid.UUID(int=1), "web-1", 42, "0.1.0", ["send_email", "sync_crm_contacts"],
                10, at(600), at(1), 2, 100, 0, "running", 1.0,
            )
        ]
    )  # fmt: skip
    state.apply_counts(
        [
            QueueDepth("send_email", 1200, 3, 10, 95.0, 3240.0, at(0)),
            QueueDepth("sync_crm_contacts", 40, 0, 0, 130.0, None, at(0)),
            QueueDepth("charge", 2, 0, 0, 12.0, None, at(0)),
        ]
    )
    state.apply_paused([PauseInfo("sync_crm_contacts", at(10), at(-110), "root@vm", REASON, 110.0)])
    app.repaint(force=True)


@pytest.mark.parametrize(
    ("size", "dropped", "name", "pause"),
    [
        # The console gives the pane 60 columns of 80: names and the pause give way. No
        # entrypoint has a schedule, so no size shows an empty "next run".
        ((80, 24), {"picked", "rate", "schedule"}, "sync_cr", "‖ 1m50s by r"),
        ((120, 40), {"picked", "rate", "schedule"}, "sync_crm_contacts", "‖ 1m50s by root"),
        ((200, 50), {"schedule"}, "sync_crm_contacts", "‖ 1m50s by root@vm: CRM rate limit w"),
    ],
)
async def test_the_essential_columns_stay_at_every_size(
    make_app: Callable[..., PgqtopApp],
    size: tuple[int, int],
    dropped: set[str],
    name: str,
    pause: str | None,
) -> None:
    app = make_app(watch=False, clock=lambda: NOW)
    async with app.run_test(size=size) as pilot:
        seed(app)
        pane = app.query_one(QueuesPane)
        await until(pilot, lambda: pane.row_count == 3)
        await pilot.pause()
        if os.environ.get("SHOW_SCREEN"):
            print(screen_text(app))
        shown = pane.shown_columns
        assert set(ESSENTIAL) <= set(shown)
        assert {column.key for column in COLUMNS} - set(shown) == dropped
        used = sum(column.get_render_width(pane) for column in pane.columns.values())
        assert used <= pane.size.width, "no column is cut off at the right edge"
        shown_name = cell_text(app, "queues", "sync_crm_contacts", "entrypoint") or ""
        assert shown_name.startswith(name)
        assert shown_name == name or shown_name.endswith("…")
        context = cell_text(app, "queues", "sync_crm_contacts", "forecast") or ""
        assert context.startswith(pause) and context.endswith("…"), "whole on Enter"
        assert cell_text(app, "queues", "charge", "forecast") == "no worker"


async def test_columns_stay_put_while_their_cells_still_fit(
    make_app: Callable[..., PgqtopApp],
) -> None:
    """A count that gets shorter leaves the columns as they are (laying them out again draws
    the whole table); one that outgrows its column lays them out again."""
    app = make_app(watch=False, clock=lambda: NOW)
    async with app.run_test(size=(200, 50)) as pilot:
        seed(app)
        pane = app.query_one(QueuesPane)
        await until(pilot, lambda: pane.row_count == 3)
        widths = {str(key.value): column.width for key, column in pane.columns.items()}
        updates = pane._update_count

        def count(due: int) -> None:
            app.state.apply_counts([QueueDepth("send_email", due, 3, 10, 95.0, 3240.0, at(0))])
            app.repaint(force=True)

        count(7)
        await pilot.pause()
        assert cell_text(app, "queues", "send_email", "queued") == "7"
        assert {str(key.value): column.width for key, column in pane.columns.items()} == widths
        assert pane._update_count == updates, "no row was added again"

        count(123_456_789)
        await pilot.pause()
        assert cell_text(app, "queues", "send_email", "queued") == "123,456,789"
        assert pane.columns["queued"].width == len("123,456,789") > widths["queued"]
