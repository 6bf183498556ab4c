"""Browse the jobs table a page at a time (keyset paging on id, so page 1,000 of a million-row
table costs what page 1 does), filtered by entrypoint and status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Select

from pgqtop.model import WAITING, Job, first_line
from pgqtop.tui import format
from pgqtop.tui.panes.tables import Cell, selected_key
from pgqtop.tui.state import Clock

PAGE_SIZE = 50
PageLoader = Callable[[int, int, str | None, str | None], Awaitable[list[Job]]]
STATUSES = [(s.value, s.value) for s in WAITING]


class JobsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("n,pagedown", "next_page", "Next page"),
        Binding("b,pageup", "previous_page", "Previous page"),
        Binding("f5", "reload", "Reload"),
    ]
    DEFAULT_CSS = """
    JobsScreen #filters { height: 3; }
    JobsScreen #filters Input { width: 32; }
    JobsScreen #filters Select { width: 24; }
    JobsScreen #page { padding: 1 2; }
    JobsScreen DataTable { height: 1fr; }
    """

    def __init__(
        self,
        loader: PageLoader,
        clock: Clock,
        *,
        entrypoint: str | None = None,
        status: str | None = None,
    ) -> None:
        super().__init__()
        self.loader = loader
        self.clock = clock
        self.entrypoint = entrypoint
        self.status = status
        self.starts: list[int] = [0]
        self.jobs: list[Job] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield Input(value=self.entrypoint or "", placeholder="entrypoint (all)", id="entry")
            yield Select(
                STATUSES, value=self.status or Select.NULL, prompt="any status", id="status"
            )
            yield Label("", id="page")
        table: DataTable[Cell] = DataTable(cursor_type="row", zebra_stripes=True, id="jobs")
        for label in ("id", "entrypoint", "status", "priority", "tries", "age", "due", "payload"):
            table.add_column(label, key=label)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Jobs"
        self.query_one(DataTable).focus()
        self.load()

    @property
    def selected_job(self) -> Job | None:
        key = selected_key(self.query_one(DataTable))
        for job in self.jobs:
            if str(job.id) == key:
                return job
        return None

    @on(Input.Submitted, "#entry")
    def entry_changed(self, event: Input.Submitted) -> None:
        self.entrypoint = event.value.strip() or None
        self.starts = [0]
        self.load()
        self.query_one(DataTable).focus()

    @on(Select.Changed, "#status")
    def status_changed(self, event: Select.Changed) -> None:
        value = event.value
        self.status = value if isinstance(value, str) else None
        self.starts = [0]
        self.load()

    def action_next_page(self) -> None:
        if len(self.jobs) == PAGE_SIZE:
            self.starts.append(self.jobs[-1].id)
            self.load()

    def action_previous_page(self) -> None:
        if len(self.starts) > 1:
            self.starts.pop()
            self.load()

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="jobs-page")
    async def load(self) -> None:
        try:
            jobs = await self.loader(self.starts[-1], PAGE_SIZE, self.entrypoint, self.status)
        except Exception as exc:  # a lost connection must not close the screen
            self.notify(f"cannot load jobs: {first_line(exc)}", severity="error")
            return
        self.jobs = jobs
        self.show()

    def show(self) -> None:
        table: DataTable[Cell] = self.query_one(DataTable)
        table.clear()
        now = self.clock()
        for job in self.jobs:
            preview = (job.payload or b"")[:40].decode("utf-8", "replace")
            table.add_row(
                Text(str(job.id), justify="right"),
                format.literal(job.entrypoint),
                job.status.value,
                Text(str(job.priority), justify="right"),
                Text(str(job.attempts), justify="right"),
                Text(format.duration(now - job.created.timestamp()), justify="right"),
                Text(format.relative(job.execute_after.timestamp() - now), justify="right"),
                format.literal(preview),
                key=str(job.id),
            )
        first = f"after id {self.starts[-1]}" if self.starts[-1] else "from the start"
        self.query_one("#page", Label).update(
            f"page {len(self.starts)} · {format.plural(len(self.jobs), 'job')} · {first}"
        )
