"""The top line: which database, how it answers, what the embedded worker does, live or frozen;
while the connection is down, a second line says why."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from pgqtop.tui.format import literal
from pgqtop.tui.state import ConsoleState
from pgqtop.tui.themes import TextColours, text_colours


class StatusHeader(Static):
    DEFAULT_CSS = """
    StatusHeader {
        height: auto; max-height: 3; background: $panel; color: $foreground; padding: 0 1;
    }
    """

    def render_state(self, state: ConsoleState) -> None:
        self.update(header_text(state, text_colours(self.app)))


def header_text(state: ConsoleState, ink: TextColours) -> Text:
    text = Text()
    text.append("pgqtop ", style="bold")
    text.append_text(literal(state.database or "?", "bold"))
    if state.server_version:
        text.append(f"  PostgreSQL {state.server_version}")
    text.append("  ")
    if state.connection == "connected":
        text.append("● connected", style=f"bold {ink.success}")
        if state.notifications:
            text.append(f"  {state.notifications}", style=ink.warning)
    elif state.connection == "reconnecting":
        wait = math.ceil(state.reconnect_in())
        text.append(f"● reconnecting in {wait}s", style=f"bold {ink.error}")
    else:
        text.append("● connecting…", style=ink.warning)
    engine = state.engine
    text.append("  worker: ")
    if not engine.present:
        text.append("none", style="dim")
    else:
        style = f"bold {ink.success}" if engine.state == "running" else ink.warning
        text.append(engine.state, style=style)
        text.append(f" {engine.in_flight}/{engine.concurrency}")
    text.append("  ")
    if state.frozen:
        text.append(" FROZEN ", style=f"bold reverse {ink.warning}")
    else:
        text.append("live", style=ink.success)
    if state.read_only:
        text.append("  ")
        text.append(" READ-ONLY ", style=f"bold reverse {ink.accent}")
    if state.filter_text:
        text.append_text(literal(f"  filter: {state.filter_text}", "italic"))
    if state.connection == "reconnecting" and state.last_error:
        # The whole reason on lines of its own (up to two, then cut), never clipped mid-word
        # at a fixed length: it is what the operator needs to fix the outage.
        text.append("\n")
        text.append_text(literal(state.last_error, ink.error))
    return text
