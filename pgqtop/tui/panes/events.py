"""What the LISTEN channel said, coalesced to one line per entrypoint per tick, newest first."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual.widgets import Static

from pgqtop.tui import format
from pgqtop.tui.state import ConsoleState
from pgqtop.tui.themes import text_colours

SHOWN = 60


class EventsPane(Static):
    BORDER_TITLE = "Events"
    DEFAULT_CSS = """
    EventsPane {
        border: round $secondary; height: 1fr; overflow: hidden;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def render_state(self, state: ConsoleState) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        ink = text_colours(self.app)
        needle = state.filter_text.lower()
        shown = 0
        for line in state.events:
            if shown >= SHOWN:
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
        self.update(text)
