"""One row per entrypoint: due and scheduled backlog, work in hand, failures, who paused it and
why, the oldest due wait, rate, forecast, and the next run of a scheduled one.

The pane fits its width: the columns an operator cannot do without (entrypoint, due, scheduled,
failures, oldest, forecast) always stay; the others go, least important first, when there is no
room, and spare width goes to what needs it (long entrypoint names, a pause's context). Enter
on a row shows everything about the entrypoint, the whole pause reason included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Mapping, Sequence

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.widgets import DataTable

from pgqtop.model import ALL_ENTRYPOINTS, printable
from pgqtop.tui import format
from pgqtop.tui.panes.tables import Cell, selected_key, set_title, sync_rows
from pgqtop.tui.screens.detail import DetailScreen
from pgqtop.tui.state import ConsoleState, QueueRow
from pgqtop.tui.themes import TextColours, text_colours


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    rank: int
    """0: always shown; higher ranks are dropped first when the pane is narrow."""
    least: int = 0
    """The narrowest this column may be squeezed to (0: never squeezed)."""
    fair: int = 0
    """The width it claims before the optional columns are placed (0: all it wants); it
    gets more from the room they leave."""


COLUMNS = (
    Column("entrypoint", "entrypoint", 0, least=8),
    Column("queued", "due", 0),
    Column("scheduled", "sched", 0),
    Column("picked", "picked", 1),
    Column("failed", "fail 1h", 0),
    Column("oldest", "oldest", 0),
    Column("rate", "done/s", 3),
    # A paused entrypoint's forecast is its pause: who, how long still, and why.
    Column("forecast", "forecast", 0, least=14, fair=36),
    Column("schedule", "next run", 2),
)
"""In display order."""
SQUEEZE_FIRST = ("forecast", "entrypoint")
"""Who gives up width when even the essentials do not fit: a long pause reason before a
name (both keep their least)."""
PADDING = 1
"""Cells of space on each side of a column."""
OVERDUE_AFTER = 5.0
"""A scheduled run this late means no running worker declares the schedule."""
SORTS = ("entrypoint", "queued", "scheduled", "picked", "failed", "oldest", "rate")
WIDTHS_HELD = 60.0
"""Seconds a column keeps the width of the widest cell it held. Laying the columns out again
draws the whole table, and with jobs flowing the counts and forecasts change length several
times a second; held widths change the layout at most once a minute when cells shrink."""


class QueuesPane(DataTable[Cell]):
    """Sorted by name; `s` or a click on a header changes the sort column."""

    BORDER_TITLE = "Queues"
    DEFAULT_CSS = "QueuesPane { border: round $primary; height: 1fr; }"

    def __init__(self) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id="queues", cell_padding=PADDING)
        self.sort_by = "entrypoint"
        self._state: ConsoleState | None = None
        self._layout: tuple[tuple[str, int], ...] = ()
        self._held: dict[str, int] = {}
        """The widest cell of each column since `_held_since` (monotonic seconds)."""
        self._held_since = -WIDTHS_HELD

    def _mark_sort(self) -> None:
        """Relabel the headers when the sort changes: ▲ (a-z) or ▼ (largest first) on the
        sorted column; the others keep the room for it, so a new sort does not move them."""
        changed = False
        for key, column in self.columns.items():
            wanted = _label(str(key.value), self.sort_by)
            if column.label != wanted:
                column.label = wanted
                changed = True
        if changed:
            self._clear_caches()
            self.refresh()

    @property
    def selected_entrypoint(self) -> str | None:
        return selected_key(self)

    @property
    def shown_columns(self) -> list[str]:
        """The keys of the columns on screen now, in order."""
        return [key for key, _ in self._layout]

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key in SORTS:
            self.sort_by = key
            self._again()

    def on_resize(self, _event: events.Resize) -> None:
        self._again()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter: everything about the entrypoint, the whole pause reason included."""
        if self._state is None or event.row_key.value is None:
            return
        event.stop()
        name = event.row_key.value
        body = entrypoint_renderable(self._state, name)
        self.app.push_screen(
            DetailScreen(body, f"entrypoint {printable(name)}", kind="entrypoint", entrypoint=name)
        )

    def cycle_sort(self) -> None:
        self.sort_by = SORTS[(SORTS.index(self.sort_by) + 1) % len(SORTS)]
        self.notify(f"queues sorted by {_column_name(self.sort_by)}", timeout=2)
        self._again()

    def _again(self) -> None:
        if self._state is not None:
            self.render_state(self._state)

    def render_state(self, state: ConsoleState) -> None:
        self._state = state
        now = state.now("queues")
        rows = state.visible_queues()
        if self.sort_by != "entrypoint":
            rows.sort(key=lambda r: _sort_value(r, self.sort_by, now), reverse=True)
        set_title(self, subtitle=f"sort: {_column_name(self.sort_by)}")
        self._mark_sort()
        ink = text_colours(self.app)
        cells = [(row.entrypoint, _cells(row, state, now, ink)) for row in rows]
        layout = choose_columns(cells, self._room(len(cells)), self._widths(cells))
        if layout != self._layout:
            selected = self.selected_entrypoint
            self.clear(columns=True)
            self._layout = layout
            for key, width in layout:
                self.add_column(_label(key, self.sort_by), width=width, key=key)
            self._fill(cells)
            keys = [key for key, _ in cells]
            if selected in keys:
                self.move_cursor(row=keys.index(selected), animate=False)
            return
        self._fill(cells)

    def _widths(self, cells: Sequence[tuple[str, dict[str, Text]]]) -> dict[str, int]:
        """What each column wants: its widest cell now or within the last WIDTHS_HELD."""
        now = time.monotonic()
        if now - self._held_since >= WIDTHS_HELD:
            self._held, self._held_since = {}, now
        fresh = wanted_widths(cells, self.sort_by)
        self._held = {key: max(width, self._held.get(key, 0)) for key, width in fresh.items()}
        return self._held

    def _room(self, rows: int) -> int:
        """Cells across for columns (less the vertical scrollbar's, when rows will need it)."""
        scrollbar = self.styles.scrollbar_size_vertical if rows + 1 > self.size.height else 0
        return max(0, self.size.width - scrollbar)

    def _fill(self, cells: Sequence[tuple[str, dict[str, Text]]]) -> None:
        widths = dict(self._layout)
        sync_rows(
            self,
            [
                (key, [_fit(row[column], width) for column, width in widths.items()])
                for key, row in cells
            ],
        )


def _column_name(key: str) -> str:
    """What the operator reads on the header (the `queued` column says `due`)."""
    return next(column.label for column in COLUMNS if column.key == key)


SORT_MARK_CELLS = 2
"""Room the sorted column's header takes for its mark (` ▲`)."""


def _label(key: str, sort_by: str = "") -> Text:
    """A header, marked when its column is the sort: ▲ a-z, ▼ largest first."""
    label = _column_name(key)
    if key != sort_by:
        return Text(label)
    return Text(f"{label} {'▲' if key == 'entrypoint' else '▼'}", style="bold")


def wanted_widths(
    cells: Sequence[tuple[str, dict[str, Text]]], sort_by: str = ""
) -> dict[str, int]:
    """Each column's widest cell, its header (with the sort mark) included."""
    return {
        column.key: max(
            [
                len(column.label) + (SORT_MARK_CELLS if column.key == sort_by else 0),
                *(row[column.key].cell_len for _, row in cells),
            ],
            default=0,
        )
        for column in COLUMNS
    }


def choose_columns(
    cells: Sequence[tuple[str, dict[str, Text]]], room: int, wanted: Mapping[str, int]
) -> tuple[tuple[str, int], ...]:
    """The columns to show and their widths. Every column wants its widest cell (`wanted`),
    a column with a fair width claims no more than that at first. The essentials are always
    in (when they do not fit, SQUEEZE_FIRST give way down to their least); the others join,
    most important first, while they fit (unless they are blank); the room left goes to
    what was cut, in display order."""
    widths = {
        column.key: min(wanted[column.key], column.fair or wanted[column.key]) for column in COLUMNS
    }
    least = {column.key: column.least for column in COLUMNS}
    chosen = {column.key for column in COLUMNS if column.rank == 0}

    def used(keys: set[str]) -> int:
        return sum(widths[key] + 2 * PADDING for key in keys)

    for key in SQUEEZE_FIRST:
        over = used(chosen) - room
        if over > 0:
            widths[key] -= min(over, max(0, widths[key] - least[key]))
    for column in sorted(COLUMNS, key=lambda c: c.rank):
        if column.key in chosen or not any(row[column.key].plain for _, row in cells):
            continue  # an optional column with nothing to say (no schedules) stays out
        if used(chosen | {column.key}) <= room:
            chosen.add(column.key)
    spare = room - used(chosen)
    for column in COLUMNS:
        if column.key in chosen and spare > 0:
            grow = min(spare, wanted[column.key] - widths[column.key])
            widths[column.key] += grow
            spare -= grow
    return tuple((column.key, widths[column.key]) for column in COLUMNS if column.key in chosen)


def _fit(cell: Text, width: int) -> Text:
    if cell.cell_len <= width:
        return cell
    cut = cell.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut


def _sort_value(row: QueueRow, column: str, now: float) -> float:
    if column == "queued":
        return row.due
    if column == "scheduled":
        return row.scheduled
    if column == "picked":
        return row.picked
    if column == "failed":
        return row.failed_recent
    if column == "rate":
        return row.completed_per_second
    return now - row.oldest_since if row.oldest_since is not None else -1.0


def _right(text: str, style: str = "") -> Text:
    return Text(text, style=style, justify="right")


def _cells(row: QueueRow, state: ConsoleState, now: float, ink: TextColours) -> dict[str, Text]:
    age = now - row.oldest_since if row.oldest_since is not None and row.due else None
    forecast = _forecast(row, state, now)
    if forecast.startswith("growing"):
        forecast_style = ink.error
    elif forecast.startswith("‖"):
        forecast_style = f"bold {ink.warning}"
    elif forecast in ("stalled", "no worker"):
        forecast_style = ink.warning
    else:
        forecast_style = ""
    return {
        "entrypoint": format.literal(row.entrypoint),
        "queued": _right(format.count(row.due)),
        "scheduled": _right(format.count(row.scheduled) if row.scheduled else ""),
        "picked": _right(format.count(row.picked)),
        "failed": _right(format.count(row.failed_recent), ink.error if row.failed_recent else ""),
        "oldest": _right(format.age(age)),
        "rate": _right(format.rate(row.completed_per_second)),
        "forecast": Text(forecast, style=forecast_style),
        "schedule": _next_run_cell(state, row.entrypoint, ink),
    }


def _forecast(row: QueueRow, state: ConsoleState, now: float) -> str:
    if state.is_paused(row.entrypoint):
        return pause_context(state, row.entrypoint)
    if row.due and state.workers_seen_at and not state.declaring(row.entrypoint):
        # Nobody will take these: say so rather than "stalled".
        return "no worker"
    return format.forecast(row, now)


def _next_run_cell(state: ConsoleState, entrypoint: str, ink: TextColours) -> Text:
    seconds = state.next_run_in(entrypoint)
    if seconds is None:
        return Text("")
    if seconds > 0:
        return _right(f"in {format.duration(seconds)}")
    if -seconds < OVERDUE_AFTER:
        return _right("due")
    return _right(f"overdue {format.duration(-seconds)}", f"bold {ink.warning}")


def pause_context(state: ConsoleState, entrypoint: str) -> str:
    """Who paused it, for how long still, and why, as `status` says it but shorter:
    `‖ 1m50s by root@vm: CRM rate limit`, `‖ paused by root@vm: console`, `‖ all ...` for a
    pause of every entrypoint. Empty when it is not paused."""
    if not state.is_paused(entrypoint):
        return ""
    info = state.paused.get(entrypoint) or state.paused.get(ALL_ENTRYPOINTS)
    remaining = state.pause_remaining(entrypoint)
    parts = ["‖"]
    if entrypoint not in state.paused:
        parts.append("all")
    parts.append("paused" if remaining is None else format.duration(remaining))
    if info is not None and info.paused_by:
        parts.append(f"by {printable(info.paused_by)}")
    text = " ".join(parts)
    if info is not None and info.reason:
        text += f": {printable(info.reason)}"
    return text


def _when(moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def entrypoint_renderable(state: ConsoleState, entrypoint: str) -> RenderableType:
    """Everything the console knows of one entrypoint, as literal text."""
    row = state.row(entrypoint) if entrypoint in state.queues else QueueRow(entrypoint)
    now = state.clock()
    age = now - row.oldest_since if row.oldest_since is not None and row.due else None
    next_due = None if row.next_due_at is None else row.next_due_at - now
    lines: list[tuple[str, str]] = [
        ("due", format.count(row.due)),
        ("scheduled", format.count(row.scheduled)),
        ("next due", format.relative(next_due) if row.scheduled else "-"),
        ("picked", format.count(row.picked)),
        ("failed 1h", format.count(row.failed_recent)),
        ("oldest due", format.duration(age)),
        ("done/s", format.rate(row.completed_per_second)),
        ("forecast", _forecast(row, state, now)),
        ("workers", ", ".join(printable(w) for w in state.declaring(entrypoint)) or "none"),
    ]
    info = state.paused.get(entrypoint) or state.paused.get(ALL_ENTRYPOINTS)
    if state.is_paused(entrypoint) and info is not None:
        remaining = state.pause_remaining(entrypoint)
        scope = "" if entrypoint in state.paused else " (every entrypoint)"
        lines += [
            ("paused", f"since {_when(info.paused_at)}{scope}"),
            ("paused by", printable(info.paused_by) or "?"),
            ("until", "resumed" if remaining is None else _when(info.paused_until)),
            ("reason", printable(info.reason) or "-"),
        ]
    body = Text()
    for name, value in lines:
        body.append(f"{name:>12}  ", style="bold")
        body.append(value + "\n")
    return Group(format.literal(entrypoint, "bold"), body)
