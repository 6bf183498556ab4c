"""The console: composes the panes, owns the keys, runs the watcher and the embedded engine.

Panes never touch the database: the Watcher feeds `ConsoleState`, a timer repaints from it at
most four times a second. Every write an operator makes goes through `pgqtop.operations`, the
same functions the CLI calls, in a Textual worker on the watcher's main connection so a slow
statement never stalls a key press; a flow that asks first reads top to bottom (count, confirm,
write). The background loops (watcher, embedded engine, extra feeders) are Textual workers
too and end with the app, the engine after a graceful stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from rich.console import RenderableType
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.command import CommandPalette
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.notifications import Notification, SeverityLevel
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import DataTable, Footer
from textual.worker import Worker, WorkerState

from pgqtop import operations
from pgqtop.config import Settings, describe_dsn
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import InFlightJob, WorkerInfo
from pgqtop.errors import PgqtopError
from pgqtop.model import (
    ALL_ENTRYPOINTS,
    Job,
    NewJob,
    first_line,
    printable,
    redact,
    target_label,
)
from pgqtop.story import parse_job_id, retention_note
from pgqtop.tui import keys
from pgqtop.tui.format import literal, literal_block, plural
from pgqtop.tui.panes.events import EventsPane
from pgqtop.tui.panes.failures import FailuresPane
from pgqtop.tui.panes.header import StatusHeader
from pgqtop.tui.panes.queues import QueuesPane
from pgqtop.tui.panes.throughput import ThroughputPane
from pgqtop.tui.panes.workers import WorkersPane
from pgqtop.tui.screens.detail import DetailScreen, failure_renderable, job_renderable
from pgqtop.tui.screens.dialogs import (
    ChoiceScreen,
    ConfirmScreen,
    Dialog,
    EnqueueScreen,
    PromptScreen,
)
from pgqtop.tui.screens.help import HelpScreen
from pgqtop.tui.screens.jobs import JobsScreen
from pgqtop.tui.screens.story import story_renderable
from pgqtop.tui.screens.worker import WorkerScreen
from pgqtop.tui.settings import ConsolePreferences, read_preferences, read_state, remember
from pgqtop.tui.state import CHART_VIEWS, CLOCK_PANES, Clock, ConsoleState, chart_window
from pgqtop.tui.themes import DEFAULT_THEME, ThemeSet, load_themes, text_colours
from pgqtop.tui.watcher import Watcher

if TYPE_CHECKING:
    from pgqtop.engine.manager import QueueManager

log = logging.getLogger(__name__)
T = TypeVar("T")

Feeder = Callable[[asyncio.Event], Awaitable[None]]
REPAINT_INTERVAL = 0.25
EVENT_FLUSH_TICKS = 4
PANE_SOONEST = 0.9
"""Seconds a pane waits after a redraw before news from the database redraws it again. With
jobs flowing the counts change many times a second; a pane then redraws about once a second,
with the clock's tick, and its rows only once for all that changed meanwhile."""
PROMPT_AFTER_ACTION = 3.0
"""Seconds after an operator's action (a write, a new chart window or failures view) in which
the panes show what the polls bring at once: the operator is waiting to see it."""
PAUSE_CHOICES = [("5 minutes", 300.0), ("15 minutes", 900.0), ("1 hour", 3600.0)]
MAX_CONCURRENCY = 256
"""The most `+` raises the embedded worker to: one console process, one event loop."""
CONCURRENCY_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, MAX_CONCURRENCY)
CONSOLE_REASON = "console"
"""The reason a console pause records (the operator is recorded as user@host, as from the CLI)."""
ENGINE_GRACE = 5.0
"""Seconds the embedded engine's running jobs get to finish when the console closes."""
STALE_MARK = "⚠ stale since "
"""Between a pane's own subtitle and when its data went stale."""
BACKGROUND = "background"
"""Worker group of the loops that run as long as the app: watcher, engine, extra feeders."""


PANE_KINDS: tuple[tuple[str, type[Any]], ...] = (
    ("header", StatusHeader),
    ("queues", QueuesPane),
    ("chart", ThroughputPane),
    ("events", EventsPane),
    ("workers", WorkersPane),
    ("failures", FailuresPane),
)
"""The parts of the main screen that repaint on their own, by their names in the state."""


class NotConnected(PgqtopError):
    """An action needs the database and the console is between connections."""


class PgqtopApp(App[int]):
    TITLE = "pgqtop"
    CSS = """
    #top { height: 3fr; }
    #bottom { height: 2fr; }
    #queues { width: 3fr; min-width: 60; }
    #throughput { width: 2fr; }
    #events { width: 2fr; }
    #workers { width: 4fr; }
    #failures { width: 3fr; }
    Screen.-narrow #workers { width: 3fr; }
    Screen.-narrow #failures { width: 4fr; }
    """
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (180, "-wide")]
    """Below 180 columns the failures pane takes a larger share, so errors stay readable."""
    BINDINGS = [*keys.bindings()]

    def __init__(
        self,
        settings: Settings,
        *,
        manager: QueueManager | None = None,
        theme: str | None = None,
        read_only: bool = False,
        refresh: float | None = None,
        extra_tasks: Sequence[Feeder] = (),
        clock: Clock = time.time,
        watch: bool = True,
        themes: ThemeSet | None = None,
        preferences: ConsolePreferences | None = None,
        remember_state: bool = True,
    ) -> None:
        super().__init__()
        read_only = read_only or settings.read_only
        self.settings = dataclasses.replace(settings, read_only=read_only)
        self.manager = manager
        self.read_only = read_only
        self.preferences = preferences or ConsolePreferences()
        self.greeting = ""
        """Shown as a toast once the console opens (the demo says how to open another)."""
        self.remember_state = remember_state
        remembered = read_state() if remember_state else {}
        self.state = ConsoleState(
            clock=clock,
            database=describe_dsn(settings.dsn),
            read_only=read_only,
            stale_after=settings.engine.worker_stale_after,
        )
        self.state.chart_window = chart_window(
            str(remembered.get("chart_window") or self.preferences.chart_window or "1m")
        )
        self.watcher = Watcher(
            self.settings, self.state, refresh=refresh or self.preferences.refresh
        )
        self.watch_database = watch
        self.extra_tasks = list(extra_tasks)
        self.theme_set = themes or load_themes()
        self.wanted_theme = (
            theme or remembered.get("theme") or self.preferences.theme or DEFAULT_THEME
        )
        self._stop = asyncio.Event()
        """Handed to the loops that take one; here they end by being cancelled with the app."""
        self._drawn = -1
        self._pane_drawn: dict[str, int] = {}
        """Per pane, the state version it last drew."""
        self._pane_at: dict[str, float] = {}
        """Per pane, when it last drew (monotonic seconds)."""
        self._panes: dict[str, Any] = {}
        """The panes by name, found once (a DOM query on every tick costs more than the tick)."""
        self._prompt_until = 0.0
        """Until when (monotonic) the panes skip PANE_SOONEST: an action's result is awaited."""
        self._ticks = 0
        self._toasts: dict[tuple[str, str], tuple[Notification, int]] = {}
        self._ui_thread = threading.get_ident()

    # --- layout and lifecycle -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        with Vertical():
            with Horizontal(id="top"):
                yield QueuesPane()
                yield ThroughputPane()
            with Horizontal(id="bottom"):
                yield EventsPane(id="events")
                yield WorkersPane()
                yield FailuresPane()
        yield Footer()

    def on_mount(self) -> None:
        for theme in self.theme_set.themes.values():
            self.register_theme(theme)
        for problem in self.theme_set.problems:
            self.notify(problem, severity="warning", timeout=8)
            log.warning("%s", problem)
        self.apply_theme(str(self.wanted_theme))
        self.theme_changed_signal.subscribe(self, self._recolour)
        if self.watch_database:
            self._run_background(self.watcher.run(self._stop), "watcher")
        if self.manager is not None:
            self.state.engine.present = True
            self.manager.add_listener(self.state.apply_engine_event)
            self.start_engine()
        for feeder in self.extra_tasks:
            self._run_background(feeder(self._stop), "extra")
        self.query_one(QueuesPane).focus()
        self.repaint(force=True)
        self.set_interval(REPAINT_INTERVAL, self.tick)
        if self.greeting:
            self.notify(self.greeting, timeout=20)

    def apply_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"unknown theme {name!r}; using {DEFAULT_THEME}", severity="warning")
            name = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = name

    def _recolour(self, _theme: Theme) -> None:
        """Text the panes build in code takes its colours from the theme: draw it again."""
        self.repaint(force=True)

    def _run_background(self, work: Awaitable[None], name: str) -> None:
        self.run_worker(work, name=name, group=BACKGROUND, exit_on_error=False)

    @on(Worker.StateChanged)
    def _background_ended(self, event: Worker.StateChanged) -> None:
        """A loop that fails says so in the events pane (password-free) and the log."""
        worker = event.worker
        if worker.group != BACKGROUND or event.state is not WorkerState.ERROR:
            return
        error = redact(str(worker.error), self.settings.dsn)
        log.error("%s stopped: %s", worker.name, error, exc_info=worker.error)
        self.state.add_event(f"{worker.name} stopped: {error}", "control")

    async def on_unmount(self) -> None:
        """Textual cancels the background workers after this; the embedded engine first lets
        its running jobs finish and deregisters, as a headless worker does on SIGTERM."""
        if self.manager is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.manager.stop(grace=ENGINE_GRACE), 2 * ENGINE_GRACE)
        if self.remember_state:
            remember(theme=self.theme, chart_window=self.state.chart_window.label)

    # --- repainting ---------------------------------------------------------------------------

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % EVENT_FLUSH_TICKS == 0:
            self.state.flush_events()
            self.state.sample_trend()
            # Ages and countdowns move with the clock; the panes change only the cells whose
            # text did.
            self.state.touch(*CLOCK_PANES)
            if self.state.connection == "reconnecting":
                self.state.touch("header")
        self._sync_engine()
        self.repaint()

    def _sync_engine(self) -> None:
        if self.manager is None:
            return
        view = self.state.engine
        counters = self.manager.counters
        fresh = (
            self.manager.state,
            self.manager.concurrency,
            counters.in_flight,
            counters.succeeded,
            counters.failed,
        )
        if fresh != (view.state, view.concurrency, view.in_flight, view.succeeded, view.failed):
            (view.state, view.concurrency, view.in_flight, view.succeeded, view.failed) = fresh
            self.state.touch("header", "workers")

    def repaint(self, *, force: bool = False) -> None:
        if not force and self.state.version == self._drawn:
            return
        panes = self._main_panes()
        if panes is None:
            return
        versions = self.state.versions
        now = time.monotonic()
        prompt = force or now < self._prompt_until
        waiting = False
        for name, pane in panes.items():
            if not force and versions[name] == self._pane_drawn.get(name):
                continue
            if self.state.frozen and not force and name != "header":
                continue
            if not prompt and now - self._pane_at.get(name, -PANE_SOONEST) < PANE_SOONEST:
                waiting = True  # drawn moments ago: a later tick draws this and what follows
                continue
            self._pane_drawn[name] = versions[name]
            self._pane_at[name] = now
            pane.render_state(self.state)
        if not waiting:
            self._drawn = self.state.version
        self._mark_stale(panes)

    def _main_panes(self) -> dict[str, Any] | None:
        """The panes by name. They live on the default screen, whatever dialog is on top;
        None while the app starts or shuts down and they are not there to paint."""
        if not self._panes:
            main = self.screen_stack[0] if self.screen_stack else None
            if main is None or not main.query(StatusHeader):
                return None
            self._panes = {name: main.query_one(kind) for name, kind in PANE_KINDS}
        if not self._panes["header"].is_attached:
            return None
        return self._panes

    def _mark_stale(self, panes: dict[str, Any]) -> None:
        """A pane whose data has not come from the database since the connection dropped
        says since when, after whatever its own subtitle says."""
        for name, pane in panes.items():
            if name == "header":
                continue
            since = self.state.stale_since(str(pane.id))
            own = str(pane.border_subtitle or "").split(STALE_MARK)[0].rstrip()
            wanted = own
            if since is not None:
                at = dt.datetime.fromtimestamp(since).strftime("%H:%M:%S")
                wanted = f"{own}  {STALE_MARK}{at}".lstrip()
            if pane.border_subtitle != wanted:
                pane.border_subtitle = wanted

    # --- helpers ------------------------------------------------------------------------------

    def queries(self) -> ConsoleQueries:
        if self.watcher.queries is None:
            raise NotConnected("not connected to the database; try again when it is back")
        return self.watcher.queries

    @contextlib.contextmanager
    def _reported(self) -> Iterator[None]:
        """Run an operator's statements: a refusal is one red line, success polls at once."""
        try:
            yield
        except (PgqtopError, psycopg.Error) as exc:
            self.notify(first_line(exc, self.settings.dsn), severity="error", timeout=6)
        else:
            self._poll_now()

    def _poll_now(self) -> None:
        """Poll at once for what an operator's action changed, and show it when it comes."""
        self._prompt_until = time.monotonic() + PROMPT_AFTER_ACTION
        self.watcher.poke()

    async def _confirmed(self, question: str, yes: str) -> bool:
        """Ask on a dialog; only `y` goes ahead."""
        if await self.push_screen_wait(ConfirmScreen(question, yes)):
            return True
        self.notify("nothing changed", timeout=2)
        return False

    # --- toasts -------------------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every toast is literal text, whoever asks for markup: most name something from the
        database. The same message again replaces the one on screen with a count, so a held
        key cannot stack toasts over the panes."""
        if threading.get_ident() != self._ui_thread:
            # From a handler's thread: hand it to the event loop, as Textual's notify does.
            self.call_from_thread(
                self.notify, message, title=title, severity=severity, timeout=timeout
            )
            return
        text = literal_block(message).plain
        key = (text, str(severity))
        count = 1
        previous = self._toasts.get(key)
        if previous is not None and previous[0] in self._notifications:
            if not previous[0].has_expired:
                count = previous[1] + 1
            self._unnotify(previous[0], refresh=False)
        notification = Notification(
            text if count == 1 else f"{text} (x{count})",
            literal(title).plain,
            severity,
            self.NOTIFICATION_TIMEOUT if timeout is None else timeout,
            markup=False,
        )
        self._toasts = {k: v for k, v in self._toasts.items() if not v[0].has_expired}
        self._toasts[key] = (notification, count)
        self._notifications.add(notification)
        self._refresh_notifications()

    # --- where a key is pressed: one rule for keys, footer, help and palette -----------------

    def where(self, screen: Screen[Any] | None = None) -> str:
        """The place a key acts on (keys.QUEUES, keys.JOB, ...): the focused pane of the main
        screen, or the screen on top. The command palette is looked through."""
        if screen is None:
            stack = [s for s in self.screen_stack if not isinstance(s, CommandPalette)]
            screen = stack[-1] if stack else self.screen
        if isinstance(screen, JobsScreen):
            return keys.JOBS
        if isinstance(screen, DetailScreen):
            places = {"failure": keys.FAILURE, "job": keys.JOB, "entrypoint": keys.ENTRYPOINT}
            return places.get(screen.kind, "detail")
        if isinstance(screen, HelpScreen):
            return keys.HELP
        if self.screen_stack and screen is not self.screen_stack[0]:
            return "dialog"
        focused = screen.focused
        if focused is not None and focused.id in keys.MAIN_SCREEN:
            return str(focused.id)
        return keys.MAIN

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A command that means nothing where the operator is, or writes in a read-only
        session, is off the footer and the palette and does nothing when pressed or run."""
        try:
            command = keys.command_for(action)
        except KeyError:
            return True
        if self.read_only and command.writes:
            return False
        if command.priority and not isinstance(self.focused, DataTable | VerticalScroll):
            return False  # Home/End in a text field move its cursor, `g` types a g
        return self._acts_here(command)

    def _acts_here(self, command: keys.Command) -> bool:
        where = self.where()
        if command.action == "purge" and where == keys.FAILURES:
            return self.state.failures_grouped  # d deletes a group's records, not one failure
        return command.applies(where)

    def on_key(self, event: events.Key) -> None:
        """A key switched off by `check_action` says why, instead of silently doing nothing."""
        command = keys.command_for_key(event.key)
        if command is None or isinstance(self.screen, Dialog | CommandPalette):
            return
        active = self.screen.active_bindings.get(event.key)
        if active is not None and active.enabled:
            return
        if self.read_only and command.writes:
            title = command.title.lower()
            self.notify(f"read-only session: {title} is disabled", severity="warning")
        elif not self._acts_here(command):
            self.notify(command.refusal(), severity="warning", timeout=3)

    # --- what the visible screen shows --------------------------------------------------------

    def shown_entrypoint(self) -> str | None:
        """The entrypoint under the cursor or on the screen, where there is one."""
        screen, where = self.screen, self.where()
        if where == keys.QUEUES:
            return self.query_one(QueuesPane).selected_entrypoint
        if where == keys.FAILURES:
            pane = self.query_one(FailuresPane)
            failure = pane.selected_failure
            return None if failure is None else pane.entrypoint_of(failure, self.state)
        if isinstance(screen, JobsScreen):
            job = screen.selected_job
            return None if job is None else job.entrypoint
        if isinstance(screen, DetailScreen):
            return screen.entrypoint
        return None

    def shown_failure(self) -> int | None:
        screen = self.screen
        if isinstance(screen, DetailScreen) and screen.kind == "failure":
            return screen.record
        if self.where() == keys.FAILURES:
            return self.query_one(FailuresPane).selected_failure
        return None

    def shown_job(self) -> int | None:
        screen = self.screen
        if isinstance(screen, DetailScreen) and screen.kind == "job":
            return screen.record
        if isinstance(screen, JobsScreen):
            job = screen.selected_job
            return None if job is None else job.id
        return None

    def _entrypoint_or_say(self, action: str) -> str | None:
        name = self.shown_entrypoint()
        if name is None:
            self.notify(keys.command_for(action).refusal(), severity="warning")
        return name

    # --- palette ------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        where = self.where(screen)
        for command in keys.COMMANDS:
            if (self.read_only and command.writes) or not command.applies(where):
                continue
            yield SystemCommand(
                f"{command.title} ({keys.shown_key(command)})",
                command.help,
                _palette_callback(self, command.action),
            )

    # --- actions: control ---------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        name = self._entrypoint_or_say("toggle_pause")
        if name is not None:
            self.pause_or_resume(name)

    def action_toggle_pause_all(self) -> None:
        self.pause_or_resume(ALL_ENTRYPOINTS)

    @work(group="database", exit_on_error=False)
    async def pause_or_resume(self, name: str) -> None:
        label = target_label(name)
        with self._reported():
            if name in self.state.paused:
                await operations.resume(self.queries(), name)
                self.notify(f"resumed {label}")
                return
            done = await operations.pause(self.queries(), name, reason=CONSOLE_REASON)
            self.notify(f"paused {label} for the whole fleet")
            self._warn_if_unknown(done)

    def action_pause_for(self) -> None:
        name = self._entrypoint_or_say("pause_for")
        if name is not None:
            self.pause_for_a_while(name)

    @work(group="database", exit_on_error=False)
    async def pause_for_a_while(self, name: str) -> None:
        seconds = await self.push_screen_wait(ChoiceScreen(f"Pause {name} for…", PAUSE_CHOICES))
        if seconds is None:
            return
        with self._reported():
            done = await operations.pause(
                self.queries(), name, seconds=seconds, reason=CONSOLE_REASON
            )
            self.notify(f"paused {name} for {plural(int(seconds // 60), 'minute')}")
            self._warn_if_unknown(done)

    def _warn_if_unknown(self, done: operations.Paused) -> None:
        if not done.known:
            self.notify(
                f"no jobs or workers know entrypoint {done.target!r} yet; paused it anyway",
                severity="warning",
            )

    def action_purge(self) -> None:
        if self.where() == keys.FAILURES:
            group = self.query_one(FailuresPane).selected_group
            if group is None:
                self.notify(
                    "d in Failures deletes a failure group's records: f shows the groups",
                    severity="warning",
                )
            else:
                self.purge_group(group.fingerprint, group.entrypoint)
            return
        name = self._entrypoint_or_say("purge")
        if name is not None:
            self.purge_queued([name], name)

    def action_purge_all(self) -> None:
        self.purge_queued(None, target_label(ALL_ENTRYPOINTS))

    @work(group="database", exit_on_error=False)
    async def purge_queued(self, names: list[str] | None, label: str) -> None:
        with self._reported():
            plan = await operations.plan_purge(self.queries(), names)
            if plan.count == 0:
                self.notify(f"nothing queued for {label}")
                return
            jobs = plural(plan.count, "queued job")
            question = f"Delete {jobs} of {label}?\nThis cannot be undone."
            if not await self._confirmed(question, f"Delete {plan.count:,}"):
                return
            gone = await operations.execute_purge(self.queries(), plan)
            self.notify(f"purged {plural(gone, 'queued job')} of {label}")

    def action_requeue(self) -> None:
        group = self.query_one(FailuresPane).selected_group
        if group is not None and self.where() == keys.FAILURES:
            self.requeue_group(group.fingerprint, group.entrypoint)
            return
        failure = self.shown_failure()
        if failure is None:
            self.notify(keys.command_for("requeue").refusal(), severity="warning")
            return
        self.requeue_failure(failure)

    @work(group="database", exit_on_error=False)
    async def requeue_failure(self, failure: int) -> None:
        with self._reported():
            if await operations.requeue_failure(self.queries(), failure):
                self.notify(f"requeued failure {failure}")
                return
            seen = next((f for f in self.state.failures if f.id == failure), None)
            if seen is not None and not seen.final:
                self.notify(
                    f"failure {failure} is still being retried (attempt {seen.attempts} failed;"
                    " its job runs again): requeue it once it has failed for good",
                    severity="warning",
                )
            else:
                self.notify(f"failure {failure} was already requeued")

    @work(group="database", exit_on_error=False)
    async def requeue_group(self, fingerprint: str, entrypoint: str) -> None:
        """Requeue every final, not yet requeued failure of one group, with the exact count."""
        with self._reported():
            plan = await operations.plan_requeue(self.queries(), fingerprint=fingerprint)
            if plan.count == 0:
                self.notify(f"no failures of this {entrypoint} group to requeue")
                return
            question = f"Requeue {plan.count:,} failed jobs of this {entrypoint} group as new jobs?"
            if not await self._confirmed(question, f"Requeue {plan.count:,}"):
                return
            requeued = await operations.execute_requeue(self.queries(), plan)
            self.notify(f"requeued {requeued:,} failed jobs of the group")

    @work(group="database", exit_on_error=False)
    async def purge_group(self, fingerprint: str, entrypoint: str) -> None:
        """Delete one group's failure records, with the exact count."""
        with self._reported():
            plan = await operations.plan_purge_failures(self.queries(), fingerprint)
            if plan.count == 0:
                self.notify("this group has no failure records left")
                return
            question = (
                f"Delete the {plan.count:,} failure records of this {entrypoint} group?\n"
                "Their tracebacks go; no job is touched. This cannot be undone."
            )
            if not await self._confirmed(question, f"Delete {plan.count:,}"):
                return
            gone = await operations.execute_purge_failures(self.queries(), plan)
            self.notify(f"deleted {gone:,} failure records")

    def action_requeue_all(self) -> None:
        name = self._entrypoint_or_say("requeue_all")
        if name is not None:
            self.requeue_failures_of(name)

    @work(group="database", exit_on_error=False)
    async def requeue_failures_of(self, name: str) -> None:
        with self._reported():
            plan = await operations.plan_requeue(self.queries(), name)
            if plan.count == 0:
                self.notify(f"no failures of {name} to requeue")
                return
            question = f"Requeue {plural(plan.count, 'failed job')} of {name} as new jobs?"
            if not await self._confirmed(question, f"Requeue {plan.count:,}"):
                return
            requeued = await operations.execute_requeue(self.queries(), plan)
            self.notify(f"requeued {plural(requeued, 'failed job')} of {name}")

    def action_cancel_job(self) -> None:
        job = self.shown_job()
        if job is None:
            self.notify(keys.command_for("cancel_job").refusal(), severity="warning")
            return
        self.cancel_running(job)

    @work(group="database", exit_on_error=False)
    async def cancel_running(self, job_id: int) -> None:
        with self._reported():
            await operations.cancel_jobs(self.queries(), [job_id])
            self.notify(f"asked the fleet to cancel job {job_id}")

    def action_enqueue(self) -> None:
        self.enqueue_from_form(self.shown_entrypoint() or "")

    @work(group="database", exit_on_error=False)
    async def enqueue_from_form(self, entrypoint: str) -> None:
        form = await self.push_screen_wait(EnqueueScreen(entrypoint))
        if form is None:
            return
        name, payload, priority = form
        with self._reported():
            job = NewJob(name, payload or None, priority)
            ids = await operations.enqueue(self.queries(), [job])
            self.notify(f"enqueued job {ids[0]} for {name}")
            stale_after = self.settings.engine.worker_stale_after
            for missing in await operations.undeclared(self.queries(), [name], stale_after):
                warning = printable(operations.undeclared_warning(missing))
                self.notify(warning, severity="warning", timeout=8, markup=False)

    # --- actions: embedded worker -------------------------------------------------------------

    def start_engine(self) -> None:
        if self.manager is not None:
            self._run_background(self.manager.run(), "worker")

    def action_toggle_worker(self) -> None:
        manager = self.manager
        if manager is None:
            self.notify("no embedded worker: start pgqtop with --factory", severity="warning")
            return
        if manager.state == "stopped":
            self.start_engine()
            self.notify("embedded worker starting")
            return
        self.notify("embedded worker stopping (running jobs finish first)")
        self.stop_engine(manager)

    @work(group="engine", exit_on_error=False)
    async def stop_engine(self, manager: QueueManager) -> None:
        await manager.stop()
        self.notify("embedded worker stopped")

    def _step_concurrency(self, direction: int) -> None:
        manager = self.manager
        if manager is None:
            self.notify("no embedded worker: start pgqtop with --factory", severity="warning")
            return
        current = manager.concurrency
        if direction > 0:
            if current >= MAX_CONCURRENCY:
                self.notify(f"embedded worker concurrency is at its maximum, {current}", timeout=2)
                return
            new = next((s for s in CONCURRENCY_STEPS if s > current), MAX_CONCURRENCY)
        else:
            new = next((s for s in reversed(CONCURRENCY_STEPS) if s < current), 1)
        manager.set_concurrency(max(1, new))
        self._sync_engine()
        self.repaint()
        self.notify(f"embedded worker concurrency {manager.concurrency}", timeout=2)

    def action_more_concurrency(self) -> None:
        self._step_concurrency(+1)

    def action_less_concurrency(self) -> None:
        self._step_concurrency(-1)

    # --- actions: moving in tables and lists --------------------------------------------------

    def action_first_row(self) -> None:
        self._to_end(last=False)

    def action_last_row(self) -> None:
        self._to_end(last=True)

    def _to_end(self, *, last: bool) -> None:
        """g/Home and G/End: the first or last row of the focused table, or the top or
        bottom of the focused text (a detail screen)."""
        widget = self.focused
        if isinstance(widget, DataTable):
            # The table's own actions, so a pane that follows (Failures) knows it was moved.
            if last:
                widget.action_scroll_bottom()
            else:
                widget.action_scroll_top()
        elif widget is not None:
            if last:
                widget.scroll_end(animate=False)
            else:
                widget.scroll_home(animate=False)

    # --- actions: view ------------------------------------------------------------------------

    def action_next_theme(self) -> None:
        names = self.theme_set.names or [self.theme]
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)
        if self.remember_state:
            remember(theme=self.theme)

    def action_next_chart(self) -> None:
        self.state.chart_view = CHART_VIEWS[
            (CHART_VIEWS.index(self.state.chart_view) + 1) % len(CHART_VIEWS)
        ]
        self.state.touch()
        self.repaint(force=True)

    def action_chart_window(self, label: str) -> None:
        self.state.chart_window = chart_window(label)
        self.state.series = []
        self.state.series_at = 0.0
        self.state.touch()
        self._poll_now()
        self.repaint(force=True)
        if self.remember_state:
            remember(chart_window=self.state.chart_window.label)

    def action_failures_view(self) -> None:
        self.state.failures_grouped = not self.state.failures_grouped
        self.query_one(FailuresPane).following = True
        self.state.touch()
        self._poll_now()
        self.repaint(force=True)

    def action_filter(self) -> None:
        self.ask_filter()

    @work(group="dialog")
    async def ask_filter(self) -> None:
        question = "Show entrypoints containing (empty for all):"
        text = await self.push_screen_wait(PromptScreen(question, self.state.filter_text))
        if text is not None:
            self.state.filter_text = text.strip()
            self.state.touch("header", "workers")
            self.repaint(force=True)

    def action_toggle_freeze(self) -> None:
        self.state.frozen = not self.state.frozen
        self.state.touch()
        self.repaint(force=not self.state.frozen)

    def action_cycle_sort(self) -> None:
        self.query_one(QueuesPane).cycle_sort()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.read_only))

    def action_jobs(self) -> None:
        self.push_screen(self._jobs_screen(self.shown_entrypoint()))

    def action_goto_job(self) -> None:
        self.goto_job()

    @work(group="dialog", exit_on_error=False)
    async def goto_job(self) -> None:
        """Ask for a job id, then show what `pgqtop job ID` prints about it."""
        text = await self.push_screen_wait(PromptScreen("Show the story of job id:"))
        if text is None or not text.strip():
            return
        try:
            job_id = parse_job_id(text)
            story = await operations.job_story(self.queries(), job_id)
        except (PgqtopError, psycopg.Error) as exc:
            self.notify(first_line(exc, self.settings.dsn), severity="error")
            return
        if story is None:
            self.notify(f"no job {job_id} ({retention_note(self.settings)})", severity="warning")
            return
        body = story_renderable(story, self.settings, text_colours(self))
        await self.push_screen(
            DetailScreen(
                body, f"job {job_id}", kind="job", record=job_id, entrypoint=story.entrypoint
            )
        )

    def _jobs_screen(self, entrypoint: str | None, status: str | None = None) -> JobsScreen:
        async def page(after: int, limit: int, entry: str | None, st: str | None) -> list[Job]:
            return await self.queries().browse_jobs(
                after=after, limit=limit, entrypoint=entry, status=st
            )

        return JobsScreen(page, self.state.clock, entrypoint=entrypoint, status=status)

    # --- detail -------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#failures")
    def failure_chosen(self, event: DataTable.RowSelected) -> None:
        failure = self.query_one(FailuresPane).failure_of_row(event.row_key.value)
        if failure is not None:
            self.open_failure(failure)

    @on(DataTable.RowSelected, "#workers")
    def worker_chosen(self, event: DataTable.RowSelected) -> None:
        chosen = event.row_key.value
        found = [seen.info for seen in self.state.workers if str(seen.info.id) == chosen]
        if found:
            self.push_screen(self._worker_screen(found[0]))

    def _worker_screen(self, worker: WorkerInfo) -> WorkerScreen:
        async def load() -> list[InFlightJob]:
            return await operations.worker_jobs(self.queries(), worker.id)

        async def cancel(job_id: int) -> int:
            return await operations.cancel_jobs(self.queries(), [job_id])

        return WorkerScreen(worker, load, cancel, self.state.clock, read_only=self.read_only)

    @on(DataTable.RowSelected, "#jobs")
    def job_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_job(int(event.row_key.value))

    @work(group="detail", exit_on_error=False)
    async def open_failure(self, failure_id: int) -> None:
        await self._show_detail(
            lambda queries: queries.failure_detail(failure_id),
            lambda failure: failure_renderable(failure, self.state.clock, text_colours(self)),
            f"failure {failure_id}",
            gone=f"failure {failure_id} is gone (pruned)",
            kind="failure",
            record=failure_id,
        )

    @work(group="detail", exit_on_error=False)
    async def open_job(self, job_id: int) -> None:
        await self._show_detail(
            lambda queries: queries.job_detail(job_id),
            lambda job: job_renderable(job, self.state.clock),
            f"job {job_id}",
            gone=f"job {job_id} has finished and left the table",
            kind="job",
            record=job_id,
        )

    async def _show_detail(
        self,
        load: Callable[[ConsoleQueries], Awaitable[T | None]],
        render: Callable[[T], RenderableType],
        title: str,
        *,
        gone: str,
        kind: str,
        record: int,
    ) -> None:
        """Fetch one row and show it on a detail screen; a vanished row is a warning."""
        try:
            row = await load(self.queries())
        except (PgqtopError, psycopg.Error) as exc:
            self.notify(first_line(exc, self.settings.dsn), severity="error")
            return
        if row is None:
            self.notify(gone, severity="warning")
            return
        entrypoint = getattr(row, "entrypoint", None)
        await self.push_screen(
            DetailScreen(render(row), title, kind=kind, record=record, entrypoint=entrypoint)
        )


def _palette_callback(app: PgqtopApp, action: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await app.run_action(action)

    return run


def run_console(
    settings: Settings,
    *,
    manager: QueueManager | None = None,
    theme: str | None = None,
    read_only: bool = False,
    refresh: float | None = None,
    extra_tasks: Sequence[Feeder] = (),
    greeting: str = "",
) -> int:
    """Open the console until the operator quits; returns the process exit code. A
    `greeting` (the demo's hint for a second console) is shown as a toast when it opens."""
    preferences = read_preferences()
    app = PgqtopApp(
        settings,
        manager=manager,
        theme=theme,
        read_only=read_only,
        refresh=refresh,
        extra_tasks=extra_tasks,
        preferences=preferences,
    )
    app.greeting = greeting
    result = app.run()
    if app.return_code:
        return app.return_code  # the console died (Textual printed why): not a clean exit
    return result if isinstance(result, int) else 0
