"""`?`: every key, generated from the same table as the bindings and the command palette."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pgqtop.tui.keys import COMMANDS, shown_key


def help_table(read_only: bool) -> Table:
    table = Table(title="pgqtop keys", expand=True, box=None, padding=(0, 2))
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("does")
    for command in COMMANDS:
        if read_only and command.writes:
            continue  # a read-only session does not advertise what it cannot do
        table.add_row(shown_key(command), command.help)
    table.add_row("enter", "Open the selected failure / job in detail")
    table.add_row("tab", "Move between panes")
    table.add_row("ctrl+p", "Command palette: every command above by name")
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; height: 80%; border: thick $primary; background: $surface; padding: 1 2;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close"),
        Binding("g,home", "scroll_to(False)", "Top", show=False),
        Binding("G,end", "scroll_to(True)", "Bottom", show=False),
    ]

    def __init__(self, read_only: bool) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_table(self.read_only), id="help")

    def action_scroll_to(self, bottom: bool) -> None:
        scroll = self.query_one(VerticalScroll)
        if bottom:
            scroll.scroll_end(animate=False)
        else:
            scroll.scroll_home(animate=False)
