"""Keep a DataTable in step with new rows without losing the operator's cursor."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

Cell = str | Text


def sync_rows(table: DataTable[Cell], rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
    """Update cells in place when the row set is unchanged; otherwise rebuild and put the
    cursor back on the row it was on."""
    keys = [key for key, _ in rows]
    current = [row_key.value for row_key in table.rows]
    columns = list(table.columns)
    if keys == current:
        for key, cells in rows:
            for column, value in zip(columns, cells, strict=True):
                if table.get_cell(key, column) != value:
                    table.update_cell(key, column, value, update_width=True)
        return
    selected = selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


def selected_key(table: DataTable[Cell]) -> str | None:
    if table.row_count == 0:
        return None
    try:
        row_key: RowKey = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except Exception:
        return None
    return row_key.value
