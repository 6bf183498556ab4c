"""Every registered worker on any host; a heartbeat older than the stale limit is flagged."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from pgqtop.tui import format
from pgqtop.tui.panes.tables import Cell, sync_rows
from pgqtop.tui.state import ConsoleState
from pgqtop.tui.themes import text_colours

COLUMNS = ("host", "pid", "state", "entrypoints", "running", "done", "failed", "beat")


class WorkersPane(DataTable[Cell]):
    BORDER_TITLE = "Workers"
    DEFAULT_CSS = "WorkersPane { border: round $secondary; height: 1fr; }"

    def __init__(self) -> None:
        super().__init__(cursor_type="row", id="workers")

    def on_mount(self) -> None:
        for label in COLUMNS:
            self.add_column(label, key=label)

    def render_state(self, state: ConsoleState) -> None:
        rows: list[tuple[str, tuple[Cell, ...]]] = []
        ink = text_colours(self.app)
        for seen in state.workers:
            info = seen.info
            age = state.worker_age(seen)
            stale = age > state.stale_after
            entrypoints = ",".join(info.entrypoints)
            rows.append(
                (
                    str(info.id),
                    (
                        format.literal(info.host),
                        str(info.pid),
                        Text("STALE", style=f"bold {ink.error}")
                        if stale
                        else format.literal(info.state),
                        format.literal(
                            entrypoints if len(entrypoints) <= 18 else entrypoints[:17] + "…"
                        ),
                        Text(f"{info.in_flight}/{info.concurrency}", justify="right"),
                        Text(format.count(info.processed), justify="right"),
                        Text(format.count(info.failed), justify="right"),
                        Text(
                            format.duration(age), style=ink.error if stale else "", justify="right"
                        ),
                    ),
                )
            )
        self.border_subtitle = f"{len(rows)} registered"
        sync_rows(self, rows)
