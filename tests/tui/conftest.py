"""Console fixtures: an app factory whose user files live in a temporary directory, and helpers
that wait for the live screen to show something instead of sleeping a fixed time."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from pgqtop.tui.app import PgqtopApp
from tests.waiting import eventually


@pytest.fixture(autouse=True)
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PGQTOP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PGQTOP_STATE_DIR", str(tmp_path / "state"))
    yield tmp_path


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., PgqtopApp]:
    def make(**kwargs: Any) -> PgqtopApp:
        kwargs.setdefault("remember_state", False)
        return PgqtopApp(kwargs.pop("settings", settings), **kwargs)

    return make


async def until(pilot: Pilot[Any], check: Callable[[], bool], limit: float = 8.0) -> None:
    """Let the app run until `check()` holds; fail with the app's notifications when it never
    does."""
    await eventually(
        check,
        limit,
        "the console to show it",
        step=0.1,
        pause=pilot.pause,
        detail=lambda: f"notifications: {notifications(pilot.app)}",
    )


def cell_text(app: PgqtopApp, table_id: str, row: str, column: str) -> str | None:
    table: DataTable[Any] = app.query_one(f"#{table_id}", DataTable)
    try:
        return str(table.get_cell(row, column))
    except Exception:
        return None


def screen_text(app: PgqtopApp) -> str:
    """Everything the active screen shows, as plain text (what a person would read)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def notifications(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def make_failure(
    queries: ConsoleQueries, entrypoint: str = "send_email", worker: uuid.UUID | None = None
) -> int:
    """Enqueue, take and fail one job for real; returns the job id."""
    (job_id,) = await queries.enqueue(entrypoint, b'{"to": "ops@example.com"}')
    worker = worker or uuid.uuid4()
    worker_queries = WorkerQueries(queries.conn, queries.names)
    jobs = await worker_queries.dequeue({entrypoint: 10}, 10, worker, 30.0)
    assert [j.id for j in jobs] == [job_id]
    await worker_queries.complete(
        [Outcome(job_id, Status.EXCEPTION, 0.01, "ValueError: bad address", "Traceback: ...")],
        worker,
    )
    return job_id
