"""Every registered worker on any host: its short id (as job details show it), host and pid,
done and failed counts, last heartbeat, the jobs it holds and how long the oldest has run,
memory and how full its pool is; the title says how many listen and how many stand by when not
all of them listen. A heartbeat older than the stale limit is flagged. Columns
give way by priority on a narrow terminal; Enter opens the worker's running jobs."""

from __future__ import annotations

import uuid

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from pgqtop.db.rows import WorkerInfo
from pgqtop.engine.seats import LISTEN, POLL, STANDBY
from pgqtop.model.identity import short_id
from pgqtop.model.messages import printable
from pgqtop.tui import format
from pgqtop.tui.panes.tables import (
    SCROLLBAR,
    Cell,
    ColumnSpec,
    apply_columns,
    clip,
    fit_columns,
    selected_key,
    set_title,
    sync_rows,
)
from pgqtop.tui.state import ConsoleState
from pgqtop.tui.themes import text_colours

COLUMNS = (
    ColumnSpec("id", 8, 0),
    ColumnSpec("host", 14, 1, flexible=True, label="host:pid"),
    ColumnSpec("state", 7, 3),
    ColumnSpec("done", 9, 1, label="done/fail"),
    ColumnSpec("beat", 5, 0),
    ColumnSpec("jobs", 4, 0),
    ColumnSpec("longest", 7, 2),
    ColumnSpec("rss", 6, 3),
    ColumnSpec("pool", 7, 3),
    ColumnSpec("entrypoints", 14, 5),
)
MEBIBYTE = 1024 * 1024


def memory(rss_bytes: int | None) -> str:
    if rss_bytes is None:
        return "-"
    mib = rss_bytes / MEBIBYTE
    return f"{mib:,.0f}M" if mib < 10_000 else f"{mib / 1024:,.1f}G"


def pool(info: WorkerInfo) -> str:
    """How full the worker's pool is: running over concurrency, and threads hung on handlers
    whose jobs already ended (they take no new job)."""
    used = f"{round(100 * info.in_flight / info.concurrency)}%" if info.concurrency else "-"
    return f"{used} {info.hung_threads} hung" if info.hung_threads else used


def host_pid(info: WorkerInfo, width: int) -> str:
    """`host:pid`, the host cut short rather than the pid."""
    pid = f":{info.pid}"
    return clip(printable(info.host), max(1, width - len(pid))) + pid


def wakes(state: ConsoleState) -> str:
    """How new work reaches the fleet, when not every worker listens: `· 4 listen, 92 standby`
    (engine/seats.py); each worker's screen says it for that worker."""
    order = (LISTEN, STANDBY, POLL, "other")
    counts: dict[str, int] = {}
    for seen in state.workers:
        # The title is markup: only the known words go in it, anything else is "other".
        wake = seen.info.wake if seen.info.wake in order else "other"
        counts[wake] = counts.get(wake, 0) + 1
    if set(counts) <= {LISTEN}:
        return ""
    return " · " + ", ".join(f"{counts[w]} {w}" for w in order if w in counts)


class WorkersPane(DataTable[Cell]):
    BORDER_TITLE = "Workers"
    DEFAULT_CSS = (
        "WorkersPane { border: round $secondary; height: 1fr; scrollbar-size-vertical: 1; }"
    )

    def __init__(self) -> None:
        super().__init__(cursor_type="row", id="workers")
        self._state: ConsoleState | None = None

    @property
    def selected_worker(self) -> uuid.UUID | None:
        key = selected_key(self)
        return uuid.UUID(key) if key else None

    def on_resize(self, _event: events.Resize) -> None:
        if self._state is not None and not self._state.frozen:
            self.call_after_refresh(self.render_state, self._state)

    def render_state(self, state: ConsoleState) -> None:
        self._state = state
        width = self.scrollable_content_region.width or self.size.width
        rows_fit = len(state.workers) < max(1, self.scrollable_content_region.height)
        widths = fit_columns(COLUMNS, max(0, width - (0 if rows_fit else SCROLLBAR)))
        apply_columns(self, COLUMNS, widths)
        rows: list[tuple[str, tuple[Cell, ...]]] = []
        ink = text_colours(self.app)
        now = state.clock()
        for seen in state.workers:
            info = seen.info
            age = state.worker_age(seen)
            stale = age > state.stale_after
            held = state.held_jobs.get(info.id, [])
            longest = max((j.running_seconds for j in held), default=None)
            if longest is not None:
                longest += max(0.0, now - seen.seen_at)
            cells: dict[str, Cell] = {
                "id": short_id(info.id),
                "host": format.literal(host_pid(info, widths.get("host", 14))),
                "state": Text("STALE", style=f"bold {ink.error}")
                if stale
                else format.literal(info.state),
                "done": Text.assemble(
                    format.count(info.processed),
                    "/",
                    (format.count(info.failed), ink.error if info.failed else ""),
                    justify="right",
                ),
                "beat": Text(format.age(age), style=ink.error if stale else "", justify="right"),
                "jobs": Text(str(len(held)), justify="right"),
                "longest": Text(
                    format.age(longest) if longest is not None else "-", justify="right"
                ),
                "rss": Text(memory(info.rss_bytes), justify="right"),
                "pool": Text(pool(info), justify="right"),
                "entrypoints": format.literal(
                    clip(printable(",".join(info.entrypoints)), widths.get("entrypoints", 14))
                ),
            }
            rows.append((str(info.id), tuple(cells[key] for key in widths)))
        set_title(self, subtitle=f"{len(rows)} registered{wakes(state)} · Enter: running jobs")
        sync_rows(self, rows)
