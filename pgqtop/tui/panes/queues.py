"""One row per entrypoint: backlog, work in hand, failures, pauses, age, rate, forecast, and
the next run of a scheduled one."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from pgqtop.tui import format
from pgqtop.tui.panes.tables import Cell, selected_key, sync_rows
from pgqtop.tui.state import ConsoleState, QueueRow
from pgqtop.tui.themes import TextColours, text_colours

COLUMNS = (
    ("entrypoint", "entrypoint"),
    ("queued", "queued"),
    ("picked", "picked"),
    ("failed", "fail 1h"),
    ("paused", "paused"),
    ("oldest", "oldest"),
    ("rate", "done/s"),
    ("forecast", "forecast"),
    ("schedule", "next run"),
)
OVERDUE_AFTER = 5.0
"""A scheduled run this late means no running worker declares the schedule."""
SORTS = ("entrypoint", "queued", "picked", "failed", "oldest", "rate")


class QueuesPane(DataTable[Cell]):
    """Sorted by name; `s` or a click on a header changes the sort column."""

    BORDER_TITLE = "Queues"
    DEFAULT_CSS = "QueuesPane { border: round $primary; height: 1fr; }"

    def __init__(self) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id="queues")
        self.sort_by = "entrypoint"
        self._state: ConsoleState | None = None

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(self._label(key, label), key=key)

    def _label(self, key: str, label: str) -> Text:
        """The header, with ▲ (a-z) or ▼ (largest first) on the sorted column; the others
        keep the room for it, so a new sort does not move the columns."""
        if key != self.sort_by:
            return Text(f"{label}  ")
        return Text(f"{label} {'▲' if key == 'entrypoint' else '▼'}", style="bold")

    def _mark_sort(self) -> None:
        changed = False
        for key, label in COLUMNS:
            column = self.columns.get(ColumnKey(key))
            wanted = self._label(key, label)
            if column is not None and column.label != wanted:
                column.label = wanted
                changed = True
        if changed:
            self._clear_caches()
            self.refresh()

    @property
    def selected_entrypoint(self) -> str | None:
        return selected_key(self)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key in SORTS:
            self.sort_by = key
            if self._state is not None:
                self.render_state(self._state)

    def cycle_sort(self) -> None:
        self.sort_by = SORTS[(SORTS.index(self.sort_by) + 1) % len(SORTS)]
        self.notify(f"queues sorted by {self.sort_by}", timeout=2)
        if self._state is not None:
            self.render_state(self._state)

    def render_state(self, state: ConsoleState) -> None:
        self._state = state
        now = state.now("queues")
        rows = state.visible_queues()
        if self.sort_by != "entrypoint":
            rows.sort(key=lambda r: _sort_value(r, self.sort_by, now), reverse=True)
        self.border_subtitle = f"sort: {self.sort_by}"
        self._mark_sort()
        ink = text_colours(self.app)
        sync_rows(self, [(row.entrypoint, _cells(row, state, now, ink)) for row in rows])


def _sort_value(row: QueueRow, column: str, now: float) -> float:
    if column == "queued":
        return row.queued
    if column == "picked":
        return row.picked
    if column == "failed":
        return row.failed_recent
    if column == "rate":
        return row.completed_per_second
    return now - row.oldest_since if row.oldest_since is not None else -1.0


def _cells(row: QueueRow, state: ConsoleState, now: float, ink: TextColours) -> tuple[Cell, ...]:
    age = now - row.oldest_since if row.oldest_since is not None and row.queued else None
    paused = state.is_paused(row.entrypoint)
    forecast = "held (paused)" if paused and row.queued else format.forecast(row, now)
    forecast_style = ""
    if forecast.startswith("growing"):
        forecast_style = ink.error
    elif forecast == "stalled":
        forecast_style = ink.warning
    return (
        format.literal(row.entrypoint),
        Text(format.count(row.queued), justify="right"),
        Text(format.count(row.picked), justify="right"),
        Text(
            format.count(row.failed_recent),
            style=ink.error if row.failed_recent else "",
            justify="right",
        ),
        _paused_cell(state, row.entrypoint, ink),
        Text(format.duration(age), justify="right"),
        Text(format.rate(row.completed_per_second), justify="right"),
        Text(forecast, style=forecast_style),
        _next_run_cell(state, row.entrypoint, ink),
    )


def _next_run_cell(state: ConsoleState, entrypoint: str, ink: TextColours) -> Cell:
    seconds = state.next_run_in(entrypoint)
    if seconds is None:
        return ""
    if seconds > 0:
        return Text(f"in {format.duration(seconds)}", justify="right")
    if -seconds < OVERDUE_AFTER:
        return Text("due", justify="right")
    return Text(
        f"overdue {format.duration(-seconds)}", style=f"bold {ink.warning}", justify="right"
    )


def _paused_cell(state: ConsoleState, entrypoint: str, ink: TextColours) -> Cell:
    if not state.is_paused(entrypoint):
        return ""
    remaining = state.pause_remaining(entrypoint)
    label = "‖ paused" if remaining is None else f"‖ {format.duration(remaining)}"
    return Text(label, style=f"bold {ink.warning}")
