"""What the LISTEN channel said, coalesced to one line per entrypoint per tick, newest first.

The layout sets the pane's size, never its text, and it holds only the lines that fit: with
jobs flowing a line arrives every second, and the pane then draws those lines alone, with no
new layout of the screen."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual import events
from textual.widgets import Static

from pgqtop.tui import format
from pgqtop.tui.state import ConsoleState
from pgqtop.tui.themes import text_colours

SHOWN = 60
"""The most lines drawn, however tall the pane."""


class EventsPane(Static):
    BORDER_TITLE = "Events"
    DEFAULT_CSS = """
    EventsPane {
        border: round $secondary; height: 1fr; overflow: hidden;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state: ConsoleState | None = None

    def on_resize(self, _event: events.Resize) -> None:
        """A taller pane has room for more lines (a frozen console keeps what it shows)."""
        if self._state is not None and not self._state.frozen:
            self.render_state(self._state)

    def render_state(self, state: ConsoleState) -> None:
        self._state = state
        room = min(SHOWN, max(1, self.size.height))
        text = Text(no_wrap=True, overflow="ellipsis")
        ink = text_colours(self.app)
        needle = state.filter_text.lower()
        shown = 0
        for line in state.events:
            if shown >= room:
                break
            if needle and needle not in line.text.lower():
                continue
            stamp = dt.datetime.fromtimestamp(line.at).strftime("%H:%M:%S")
            text.append(f"{stamp} ", style="dim")
            text.append_text(
                format.literal(line.text, f"bold {ink.warning}" if line.kind == "control" else "")
            )
            text.append("\n")
            shown += 1
        if not shown:
            text.append("(quiet)", style="dim")
        self.update(text, layout=False)
