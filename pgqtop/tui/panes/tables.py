"""Keep a DataTable in step with new rows without losing the operator's cursor."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

Cell = str | Text


def sync_rows(table: DataTable[Cell], rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
    """Update cells in place when the row set is unchanged; otherwise rebuild and put the
    cursor back on the row it was on."""
    keys = [key for key, _ in rows]
    current = [row_key.value for row_key in table.rows]
    columns = list(table.columns)
    if keys == current:
        changed = {
            (RowKey(key), column): value
            for key, cells in rows
            for column, value in zip(columns, cells, strict=True)
            if table.get_cell(key, column) != value
        }
        set_cells(table, changed)
        return
    selected = selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


def set_cells(table: DataTable[Cell], changed: Mapping[tuple[RowKey, ColumnKey], Cell]) -> None:
    """Put new values in some cells and redraw their rows alone.

    `DataTable.update_cell` counts every update into the key of each cached line, so one
    changed cell (an age ticking each second) throws away the whole table's rendering and
    draws every line again, and its width check lays the screen out again. The panes give
    their columns fixed widths, so here only the changed cells' cached renders (and their
    rows' composed lines) are dropped and only those rows' regions are redrawn.
    """
    if not changed:
        return
    rows = {row for row, _ in changed}
    for (row, column), value in changed.items():
        table._data[row][column] = value
    # LRUCache has keys() but no iteration of its own.
    stale_rows = [k for k in table._row_render_cache.keys() if k[0] in rows]  # noqa: SIM118
    for row_cached in stale_rows:
        table._row_render_cache.discard(row_cached)
    stale_cells = [k for k in table._cell_render_cache.keys() if k[:2] in changed]  # noqa: SIM118
    for cell_cached in stale_cells:
        table._cell_render_cache.discard(cell_cached)
    table._line_cache.clear()
    for row in rows:
        index = table.get_row_index(row)
        table._row_renderable_cache.discard((table._update_count, index))
        table.refresh_row(index)


def set_title(widget: Widget, title: str | None = None, subtitle: str | None = None) -> None:
    """Set a pane's border title and subtitle, only when they change: assigning either one
    redraws the whole widget, even with the same text."""
    if title is not None and widget.border_title != title:
        widget.border_title = title
    if subtitle is not None and widget.border_subtitle != subtitle:
        widget.border_subtitle = subtitle


def selected_key(table: DataTable[Cell]) -> str | None:
    if table.row_count == 0:
        return None
    try:
        row_key: RowKey = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except Exception:
        return None
    return row_key.value


CELL_PADDING = 2
"""A DataTable pads each cell by one column on either side."""
FLEX_FLOOR = 8
SCROLLBAR = 1
"""Width kept for the vertical scrollbar (the panes draw it one cell wide), which appears
when rows outgrow the pane."""


@dataclasses.dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A column that may be dropped when the pane is narrow: lower priority numbers stay
    longest; the flexible column takes whatever width is left over."""

    key: str
    width: int
    priority: int
    flexible: bool = False
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.key


def fit_columns(specs: Sequence[ColumnSpec], available: int) -> dict[str, int]:
    """Widths of the columns that fit in `available` cells, in the specs' order. Columns are
    taken by priority while their width (and padding) fits; the flexible one then gets the
    rest, or gives up width (down to FLEX_FLOOR) when the essential columns alone overflow.
    The priority-0 columns are always kept."""
    chosen: dict[str, int] = {}
    used = 0
    for spec in sorted(specs, key=lambda s: s.priority):
        cost = spec.width + CELL_PADDING
        if spec.priority == 0 or used + cost <= available:
            chosen[spec.key] = spec.width
            used += cost
    spare = available - used
    for spec in specs:
        if spec.flexible and spec.key in chosen:
            chosen[spec.key] = max(FLEX_FLOOR, chosen[spec.key] + spare)
            break
    return {spec.key: chosen[spec.key] for spec in specs if spec.key in chosen}


def apply_columns(
    table: DataTable[Cell], specs: Sequence[ColumnSpec], widths: dict[str, int]
) -> bool:
    """Give the table exactly these columns and widths; True when they changed (the rows
    were dropped and must be added again)."""
    current = {str(key.value): column.width for key, column in table.columns.items()}
    if current == widths and list(current) == list(widths):
        return False
    table.clear(columns=True)
    titles = {spec.key: spec.title for spec in specs}
    for key, width in widths.items():
        table.add_column(titles[key], key=key, width=width)
    return True


def clip(text: str, width: int) -> str:
    """One line cut to `width` cells with an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
