"""One worker's running jobs, longest running first, refreshed every few seconds; `x` asks
(after a confirmation) for the selected one to be canceled, which the worker honours at its
next heartbeat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from pgqtop.db.rows import InFlightJob, WorkerInfo
from pgqtop.engine.seats import LISTEN, POLL, STANDBY
from pgqtop.model import first_line
from pgqtop.model.identity import short_id
from pgqtop.model.messages import printable
from pgqtop.tui import format
from pgqtop.tui.panes.tables import Cell, selected_key, set_title, sync_rows
from pgqtop.tui.screens.dialogs import ConfirmScreen
from pgqtop.tui.state import Clock

WAKES = {
    LISTEN: "new work by LISTEN",
    STANDBY: "on standby, polling (enough workers ahead of it listen)",
    POLL: "polling (told not to listen)",
}
"""How new work reaches a worker (engine/seats.py), as its screen says it."""

REFRESH = 2.0
JobsLoader = Callable[[], Awaitable[list[InFlightJob]]]
Canceller = Callable[[int], Awaitable[int]]


class WorkerScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("x", "cancel_selected", "Cancel job"),
        Binding("f5", "reload", "Reload"),
    ]
    DEFAULT_CSS = """
    WorkerScreen #about { padding: 1 2; }
    WorkerScreen DataTable { height: 1fr; }
    """

    def __init__(
        self,
        worker: WorkerInfo,
        loader: JobsLoader,
        cancel: Canceller,
        clock: Clock,
        *,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        self.worker = worker
        self.loader = loader
        self.cancel = cancel
        self.clock = clock
        self.read_only = read_only
        self.jobs: list[InFlightJob] = []
        self.loaded_at = 0.0

    def compose(self) -> ComposeResult:
        yield Label(Text(self._about()), id="about")
        table: DataTable[Cell] = DataTable(cursor_type="row", zebra_stripes=True, id="held")
        for label in ("job", "entrypoint", "priority", "tries", "running for", "beat"):
            table.add_column(label, key=label)
        yield table
        yield Footer()

    def _about(self) -> str:
        w = self.worker
        return (
            f"worker {short_id(w.id)} on {printable(w.host)} pid {w.pid} · {printable(w.state)} · "
            f"{WAKES.get(w.wake, printable(w.wake))} · "
            f"{w.in_flight}/{w.concurrency} running · {w.processed:,} done, {w.failed:,} failed"
        )

    def on_mount(self) -> None:
        self.title = f"Worker {short_id(self.worker.id)}"
        self.query_one(DataTable).focus()
        self.load()
        self.set_interval(REFRESH, self.load)

    @property
    def selected_job(self) -> InFlightJob | None:
        key = selected_key(self.query_one(DataTable))
        return next((job for job in self.jobs if str(job.id) == key), None)

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, group="worker-jobs")
    async def load(self) -> None:
        try:
            jobs = await self.loader()
        except Exception as exc:  # a lost connection must not close the screen
            self.notify(f"cannot load the worker's jobs: {first_line(exc)}", severity="error")
            return
        self.jobs = jobs
        self.loaded_at = self.clock()
        self.show()

    def show(self) -> None:
        table: DataTable[Cell] = self.query_one(DataTable)
        rows: list[tuple[str, tuple[Cell, ...]]] = [
            (
                str(job.id),
                (
                    Text(str(job.id), justify="right"),
                    format.literal(job.entrypoint),
                    Text(str(job.priority), justify="right"),
                    Text(str(job.attempts), justify="right"),
                    Text(format.duration(job.running_seconds), justify="right"),
                    Text(format.duration(job.heartbeat_age), justify="right"),
                ),
            )
            for job in self.jobs
        ]
        sync_rows(table, rows)
        set_title(table, subtitle=f"{len(rows)} running")

    def action_cancel_selected(self) -> None:
        if self.read_only:
            self.notify("read-only session: cancel job is disabled", severity="warning")
            return
        job = self.selected_job
        if job is None:
            self.notify("this worker runs no job to cancel", severity="warning")
            return
        self.cancel_job(job)

    @work(group="worker-cancel", exit_on_error=False)
    async def cancel_job(self, job: InFlightJob) -> None:
        question = (
            f"Cancel job {job.id} ({printable(job.entrypoint)}), running for "
            f"{format.duration(job.running_seconds)} on worker {short_id(self.worker.id)}?"
        )
        if not await self.app.push_screen_wait(ConfirmScreen(question, f"Cancel job {job.id}")):
            self.notify("nothing changed", timeout=2)
            return
        try:
            asked = await self.cancel(job.id)
        except Exception as exc:
            self.notify(first_line(exc), severity="error")
            return
        if asked:
            self.notify(f"asked worker {short_id(self.worker.id)} to cancel job {job.id}")
        else:
            self.notify(f"job {job.id} is no longer running", severity="warning")
        self.load()
