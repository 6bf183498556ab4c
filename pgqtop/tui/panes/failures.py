"""Recent failures, newest first; Enter opens the full detail, `r` requeues."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from pgqtop.tui import format
from pgqtop.tui.panes.tables import Cell, selected_key, sync_rows
from pgqtop.tui.state import ConsoleState
from pgqtop.tui.themes import text_colours

COLUMNS = ("id", "entrypoint", "tries", "age", "error")


class FailuresPane(DataTable[Cell]):
    BORDER_TITLE = "Failures"
    DEFAULT_CSS = "FailuresPane { border: round $error; height: 1fr; }"

    def __init__(self) -> None:
        super().__init__(cursor_type="row", id="failures")

    def on_mount(self) -> None:
        for label in COLUMNS:
            self.add_column(label, key=label)

    @property
    def selected_failure(self) -> int | None:
        key = selected_key(self)
        return int(key) if key is not None else None

    def entrypoint_of(self, failure_id: int, state: ConsoleState) -> str | None:
        for failure in state.failures:
            if failure.id == failure_id:
                return failure.entrypoint
        return None

    def render_state(self, state: ConsoleState) -> None:
        now = state.now("failures")
        ink = text_colours(self.app)
        needle = state.filter_text.lower()
        rows: list[tuple[str, tuple[Cell, ...]]] = []
        for failure in state.failures:
            if needle and needle not in failure.entrypoint.lower():
                continue
            error = failure.error.splitlines()[0] if failure.error else failure.status
            mark = "" if failure.final else "retrying "
            if failure.requeued_at is not None:
                mark = "requeued "
            rows.append(
                (
                    str(failure.id),
                    (
                        Text(str(failure.id), justify="right"),
                        format.literal(failure.entrypoint),
                        Text(str(failure.attempts), justify="right"),
                        Text(format.duration(now - failure.failed_at.timestamp()), justify="right"),
                        Text.assemble(
                            (mark, "dim"),
                            format.literal(error[:120], ink.error if failure.final else ""),
                        ),
                    ),
                )
            )
        self.border_subtitle = f"{len(rows)} recent"
        sync_rows(self, rows)
