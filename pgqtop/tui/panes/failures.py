"""Failures, newest first, or grouped by fingerprint (`f`); Enter opens a failure (a group's
latest one), `r` requeues.

The pane follows the newest failure until the operator moves the cursor off the top row; it
then holds that failure however many arrive, and says so in its title, until Home (or `g`)
brings it back to the top. Columns give way by priority on a narrow terminal, and the error
column takes the spare width.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable

from pgqtop.db.rows import FailureGroup
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

ERROR_WIDTH = 30
"""The error column's width before it takes the spare: other columns give way to it."""
RECENT_COLUMNS = (
    ColumnSpec("id", 6, 0),
    ColumnSpec("entrypoint", 12, 1),
    ColumnSpec("tries", 5, 3),
    ColumnSpec("age", 5, 2),
    ColumnSpec("error", ERROR_WIDTH, 0, flexible=True),
)
GROUP_COLUMNS = (
    ColumnSpec("count", 6, 0),
    ColumnSpec("entrypoint", 12, 1),
    ColumnSpec("first", 5, 3, label="first"),
    ColumnSpec("last", 5, 2, label="last"),
    ColumnSpec("error", ERROR_WIDTH, 0, flexible=True),
)
GROUP_KEY = "group:"
"""Row keys of groups start with this, so they never look like a failure's id."""
_MODULE_PATH = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*(?::|$))")


def error_text(error: str, fallback: str = "") -> str:
    """A failure's error as one short line: the exception type and message without the
    module path (`myapp.mail.errors.BounceError: ...` is `BounceError: ...`)."""
    first = error.strip().splitlines()[0] if error.strip() else fallback
    return printable(_MODULE_PATH.sub("", first.strip()))


class FailuresPane(DataTable[Cell]):
    BORDER_TITLE = "Failures"
    DEFAULT_CSS = "FailuresPane { border: round $error; height: 1fr; scrollbar-size-vertical: 1; }"
    BINDINGS = [
        Binding("home,g", "follow", "Follow newest", show=False),
        Binding("end,G", "oldest", "Oldest", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(cursor_type="row", id="failures")
        self.following = True
        """On the newest row, moving to each new one as it arrives."""
        self._state: ConsoleState | None = None
        self._groups: dict[str, FailureGroup] = {}

    # --- what is selected -----------------------------------------------------------------

    @property
    def grouped(self) -> bool:
        return self._state is not None and self._state.failures_grouped

    @property
    def selected_failure(self) -> int | None:
        """The selected failure; on a group, its latest failure."""
        return self.failure_of_row(selected_key(self))

    @property
    def selected_group(self) -> FailureGroup | None:
        key = selected_key(self)
        return (
            self._groups.get(key[len(GROUP_KEY) :]) if key and key.startswith(GROUP_KEY) else None
        )

    def failure_of_row(self, key: str | None) -> int | None:
        if key is None:
            return None
        if key.startswith(GROUP_KEY):
            group = self._groups.get(key[len(GROUP_KEY) :])
            return group.sample_id if group else None
        return int(key)

    def entrypoint_of(self, failure_id: int, state: ConsoleState) -> str | None:
        for failure in state.failures:
            if failure.id == failure_id:
                return failure.entrypoint
        return None

    # --- following and holding ------------------------------------------------------------

    def action_follow(self) -> None:
        self.following = True
        self._to_top()
        self._show_title()

    def action_oldest(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)
        self._moved()

    def action_cursor_up(self) -> None:
        super().action_cursor_up()
        self._moved()

    def action_cursor_down(self) -> None:
        super().action_cursor_down()
        self._moved()

    def action_page_up(self) -> None:
        super().action_page_up()
        self._moved()

    def action_page_down(self) -> None:
        super().action_page_down()
        self._moved()

    def action_scroll_top(self) -> None:
        self.action_follow()

    def action_scroll_bottom(self) -> None:
        self.action_oldest()

    async def _on_click(self, event: events.Click) -> None:
        await super()._on_click(event)
        self._moved()

    def _moved(self) -> None:
        """The operator moved the cursor: the top row follows, any other row holds."""
        self.following = self.cursor_row <= 0
        self._show_title()

    def _to_top(self) -> None:
        if self.row_count:
            self.move_cursor(row=0, animate=False, scroll=False)
        self.scroll_to(y=0, animate=False, immediate=True)

    def _show_title(self) -> None:
        mode = "grouped" if self.grouped else "recent"
        if self.following or self.row_count == 0:
            where = "following"
        else:
            key = selected_key(self) or ""
            if key.startswith(GROUP_KEY):
                group = self._groups.get(key[len(GROUP_KEY) :])
                held = f"group of {group.count:,}" if group else "a group"
            else:
                held = f"#{key}"
            where = f"held at {held} — Home to follow"
        set_title(self, f"Failures · {mode} · {where}")

    def on_resize(self, _event: events.Resize) -> None:
        """A new size may change which columns fit; the view keeps its place either way."""
        self.call_after_refresh(self._relayout)

    def _relayout(self) -> None:
        if self._state is not None and not self._state.frozen:
            self.render_state(self._state)
        if self.following:
            self._to_top()
        elif self.row_count:
            self.move_cursor(row=self.cursor_row, animate=False)

    # --- rendering ------------------------------------------------------------------------

    def _fit(self, specs: tuple[ColumnSpec, ...]) -> dict[str, int]:
        available = self.scrollable_content_region.width or self.size.width
        return fit_columns(specs, max(0, available - SCROLLBAR))

    def render_state(self, state: ConsoleState) -> None:
        self._state = state
        specs = GROUP_COLUMNS if state.failures_grouped else RECENT_COLUMNS
        widths = self._fit(specs)
        if apply_columns(self, specs, widths):
            self._groups = {}
        if state.failures_grouped:
            rows = self._group_rows(state, widths)
        else:
            rows = self._recent_rows(state, widths)
        sync_rows(self, [(key, tuple(cells[c] for c in widths)) for key, cells in rows])
        if self.following:
            self._to_top()
        self._show_title()

    def _recent_rows(
        self, state: ConsoleState, widths: dict[str, int]
    ) -> list[tuple[str, dict[str, Cell]]]:
        now = state.now("failures")
        ink = text_colours(self.app)
        needle = state.filter_text.lower()
        room = widths.get("error", 16)
        rows: list[tuple[str, dict[str, Cell]]] = []
        for failure in state.failures:
            if needle and needle not in failure.entrypoint.lower():
                continue
            mark = "" if failure.final else "retrying "
            if failure.requeued_at is not None:
                mark = "requeued "
            error = clip(error_text(failure.error, failure.status), max(1, room - len(mark)))
            cells: dict[str, Cell] = {
                "id": Text(str(failure.id), justify="right"),
                "entrypoint": format.literal(
                    clip(printable(failure.entrypoint), widths.get("entrypoint", 12))
                ),
                "tries": Text(str(failure.attempts), justify="right"),
                "age": Text(format.age(now - failure.failed_at.timestamp()), justify="right"),
                "error": Text.assemble(
                    (mark, "dim"), format.literal(error, ink.error if failure.final else "")
                ),
            }
            rows.append((str(failure.id), cells))
        set_title(self, subtitle=f"{len(rows)} recent · f: grouped")
        return rows

    def _group_rows(
        self, state: ConsoleState, widths: dict[str, int]
    ) -> list[tuple[str, dict[str, Cell]]]:
        now = state.now("failures")
        ink = text_colours(self.app)
        needle = state.filter_text.lower()
        room = widths.get("error", 16)
        self._groups = {g.fingerprint: g for g in state.failure_groups}
        rows: list[tuple[str, dict[str, Cell]]] = []
        for group in state.failure_groups:
            if needle and needle not in group.entrypoint.lower():
                continue
            cells: dict[str, Cell] = {
                "count": Text(format.count(group.count), justify="right"),
                "entrypoint": format.literal(
                    clip(printable(group.entrypoint), widths.get("entrypoint", 12))
                ),
                "first": Text(format.age(now - group.first_seen.timestamp()), justify="right"),
                "last": Text(format.age(now - group.last_seen.timestamp()), justify="right"),
                "error": format.literal(clip(error_text(group.error_pattern), room), ink.error),
            }
            rows.append((GROUP_KEY + group.fingerprint, cells))
        total = sum(g.count for g in state.failure_groups)
        set_title(self, subtitle=f"{len(rows)} groups of {total:,} · f: recent")
        return rows
