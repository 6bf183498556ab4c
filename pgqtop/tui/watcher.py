"""Feeds the console state from the database without ever blocking the event loop.

Three connections, each with one job, so a slow query never delays the others: the engine's
Listener folds NOTIFY events into the counts as they arrive, a reconciliation connection runs
the full GROUP BY (rescheduled after max(refresh, 100 x its own duration), never overlapping,
and once more whenever LISTEN comes back, since events may have been missed), and a main
connection serves the cheap polls (statistics every 1.5 s; workers, failures and pauses every
few seconds) and operator actions. All three reconnect by the engine's one policy
(`engine.link`); the header says "connected" only while all three are up, and otherwise counts
down to the next attempt.

Without LISTEN (`--no-listen`, or a hot standby, which refuses it) there are two: the counts
come from the reconciliation alone, every poll interval (at least POLL_FLOOR seconds apart), and
the header says so ("replica · polling every 2s").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from pgqtop import operations
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.link import ReconnectingConnection
from pgqtop.engine.listener import Listener
from pgqtop.model import Event
from pgqtop.tui.state import EVENT_LIMIT, HISTORY_VIEWS, ConsoleState

T = TypeVar("T")

STATS_INTERVAL = 1.5
NOTIFY_COALESCE = 0.2
"""Seconds the console gathers notifications before applying them (engine/listener.py): the
panes redraw once a second, so a busy fleet's hundreds a second cost a few wake-ups."""
SLOW_POLL_INTERVAL = 4.0
DEFAULT_RECONCILE = 5.0
# NOTIFY deltas keep the counts live between reconciliations, so the full count only corrects
# drift: at most 1% of the time goes to it, whatever the size of the table.
RECONCILE_COST_FACTOR = 100.0
RECOUNT_SOONEST = 1.0
"""New jobs may be due or scheduled, which a NOTIFY does not say: they bring the next count
forward to this many seconds after the last (or its cost bound, if longer)."""
QUERY_TIMEOUT = 10.0
RECONCILE_TIMEOUT = 60.0
FAILURE_WINDOW = 3600.0
AUDIT_WINDOW = 3600.0
"""Seconds of operator actions the events pane reads back when LISTEN (re)starts: those said
meanwhile were not heard."""
FAILURE_ROWS = 100
AUDIT_ROWS = 200
LATENCY_FAST = 5.0
LATENCY_SLOW = 60.0
LATENCY_FAST_WINDOW = 900.0
POLL_FLOOR = 2.0
"""The console's full count is heavier than a worker's look: it polls at most this often."""
POLL_COST_FACTOR = 10.0
"""Polling, the counts have no other source: up to a tenth of the time may go to them."""


class Watcher:
    """Owns the console's connections and keeps `state` current while `run` is awaited."""

    def __init__(
        self,
        settings: Settings,
        state: ConsoleState,
        *,
        refresh: float | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.refresh = refresh
        self._listener = Listener(
            settings,
            self._on_event,
            self._on_listening,
            purpose="console listen",
            coalesce=NOTIFY_COALESCE,
        )
        self._reconciling = ReconnectingConnection(
            settings, "console reconcile", ConsoleQueries, on_change=self._show_connection
        )
        self._main = ReconnectingConnection(
            settings,
            "console",
            ConsoleQueries,
            prepare=self._read_version,
            on_change=self._show_connection,
        )
        self.polling = not settings.listen
        """True when counts come from polls alone (no LISTEN, or a hot standby)."""
        self.replica = False
        self._known = asyncio.Event()
        """Set once the main connection has told whether the server is a hot standby."""
        self._listening = asyncio.Event()
        self._wake_reconcile = asyncio.Event()
        self._jobs_arrived = False
        self._recount_from = 0.0
        """Monotonic time from which new jobs may wake the reconciliation at once."""
        self._wake_stats = asyncio.Event()
        self._wake_slow = asyncio.Event()
        self._stop = asyncio.Event()
        self._read_audit = True

    @property
    def queries(self) -> ConsoleQueries | None:
        """Main-connection queries for operator actions; None unless all three are up."""
        return self._main.current if self._all_up() else None

    def poke(self) -> None:
        """Poll now (after an action, or a chart window change) instead of at the next tick."""
        self._wake_stats.set()
        self._wake_slow.set()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        loops = [
            self._notifications(stop),
            self._reconciling.keep_running(self._reconcile, stop),
            self._main.keep_running(self._poll_stats, stop),
            self._main.keep_running(self._poll_slow, stop),
        ]
        try:
            await _until_stopped(loops, stop)
        finally:
            await self._reconciling.close()
            await self._main.close()

    # --- connection status --------------------------------------------------------------------

    @property
    def poll_seconds(self) -> float:
        return max(self.settings.poll_interval, POLL_FLOOR)

    def _all_up(self) -> bool:
        listening = self.polling or self._listener.connected
        return listening and self._reconciling.connected and self._main.connected

    def _notification_label(self) -> str:
        if not self.polling:
            return ""
        where = "replica · " if self.replica else ""
        return f"{where}polling every {self.poll_seconds:g}s"

    def _show_connection(self) -> None:
        """Put the three connections' health in the header: connected, or a countdown to the
        latest pending attempt (when the console will have tried every one) and why."""
        if self._stop.is_set():
            return  # closing on the way out is no outage to show
        if self._all_up():
            if self.state.connection != "connected":
                self.state.set_connection("connected")
            return
        parts = (
            (self._reconciling, self._main)
            if self.polling
            else (self._listener.connection, self._reconciling, self._main)
        )
        waits = [wait for part in parts if (wait := part.retry_in()) is not None]
        if not waits and self.state.connection == "connecting":
            return  # the first attempt is still under way
        errors = [part.last_error for part in parts if not part.connected and part.last_error]
        self.state.set_connection(
            "reconnecting",
            retry_in=max(waits, default=0.0),
            error=errors[-1] if errors else self.state.last_error,
        )

    def _on_listening(self, up: bool) -> None:
        if up:
            self._listening.set()
            # Events sent while LISTEN was down are lost: count again now it is back, and read
            # the operator actions of the gap from the trail (each entry shows once).
            self._wake_reconcile.set()
            self._read_audit = True
            self._wake_slow.set()
        else:
            self._listening.clear()
        self._show_connection()

    def _on_event(self, event: Event) -> None:
        self.state.apply_event(event)
        if any(deltas.get("queued", 0) > 0 for deltas in event.changes.values()):
            self._jobs_arrived = True
            if time.monotonic() >= self._recount_from:
                self._wake_reconcile.set()
        if event.op in ("pause", "resume"):
            self._wake_slow.set()

    # --- the polls ----------------------------------------------------------------------------

    async def _read_version(self, queries: ConsoleQueries) -> None:
        version = await _timed(queries.server_version())
        self.state.server_version = version.split(" ")[0]
        self.replica = await _timed(queries.in_recovery())
        if self.replica:
            self.polling = True  # a hot standby refuses LISTEN
        self.state.notifications = self._notification_label()
        self.state.touch("header")
        self._known.set()

    async def _notifications(self, stop: asyncio.Event) -> None:
        """LISTEN, unless told not to or the server turns out to be a hot standby (then wait
        for `stop`, as every loop of the watcher runs until then)."""
        if self.polling:
            await stop.wait()
            return
        known = asyncio.ensure_future(self._known.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((known, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            known.cancel()
            stopped.cancel()
        if not self.polling:
            await self._listener.run(stop)
        await stop.wait()

    async def _reconcile(self, queries: ConsoleQueries) -> None:
        await self._known.wait()
        if not self.polling:
            # Count only while listening, so no event can fall between the count and the stream.
            await self._listening.wait()
        self._wake_reconcile.clear()
        self._jobs_arrived = False
        started = time.monotonic()
        depths = await _timed(queries.queue_depths(), RECONCILE_TIMEOUT)
        took = time.monotonic() - started
        self.state.apply_counts(depths)
        if self.polling:
            # No NOTIFY: the count is the only source, so it comes round at the poll interval.
            pause = max(self.poll_seconds, POLL_COST_FACTOR * took)
            await _sleep_or_wake(self._wake_reconcile, pause)
            return
        soonest = max(RECOUNT_SOONEST, RECONCILE_COST_FACTOR * took)
        pause = max(self.refresh or DEFAULT_RECONCILE, soonest)
        due_at = self.state.next_due_at()
        if due_at is not None:
            # A scheduled job turns due without an event: count again when it does.
            pause = min(pause, max(soonest, due_at - self.state.clock() + 0.05))
        self._recount_from = time.monotonic() + soonest
        await asyncio.sleep(soonest)
        if not self._jobs_arrived:
            await _sleep_or_wake(self._wake_reconcile, pause - soonest)

    async def _poll_stats(self, queries: ConsoleQueries) -> None:
        window = self.state.chart_window
        history = self.state.chart_view in HISTORY_VIEWS
        polled = await _timed(queries.stats_poll(window.seconds, window.bucket, history=history))
        self.state.apply_outcomes(polled.outcomes)
        self.state.apply_series(polled.series)
        self.state.apply_chart_history(polled.history or [])
        if self.state.chart_view == "latency" and self._latency_due():
            latency = await _timed(operations.latency(queries, window.seconds))
            self.state.apply_latency(window.label, latency)
        self.state.sample_trend()
        await _sleep_or_wake(self._wake_stats, STATS_INTERVAL)

    def _latency_due(self) -> bool:
        """Percentiles over a day sum up to 86,400 rows per entrypoint: read them once a
        minute for the longer windows, every few seconds for the short ones."""
        window = self.state.chart_window
        label, at = self.state.chart_latency_key
        every = LATENCY_SLOW if window.seconds > LATENCY_FAST_WINDOW else LATENCY_FAST
        return label != window.label or self.state.clock() - at >= every

    async def _poll_slow(self, queries: ConsoleQueries) -> None:
        # The chart marks pauses from the audit trail; a few seconds late is soon enough.
        polled = await _timed(
            queries.slow_poll(
                failure_rows=FAILURE_ROWS,
                failure_window=FAILURE_WINDOW,
                audit_window=self.state.chart_window.seconds,
                audit_rows=AUDIT_ROWS,
                groups=self.state.failures_grouped,
            )
        )
        self.state.apply_chart_audit(polled.audit)
        if polled.groups is not None:
            self.state.apply_failure_groups(polled.groups)
        if self._read_audit and self._listening.is_set():
            entries = await _timed(queries.audit_log(AUDIT_WINDOW, EVENT_LIMIT))
            self._read_audit = False
            for entry in reversed(entries):
                self.state.apply_audit(entry)
        self.state.apply_workers(polled.workers)
        self.state.apply_held_jobs(polled.held)
        self.state.apply_schedules(polled.schedules)
        self.state.apply_failures(polled.failures)
        self.state.apply_failure_counts(polled.failed)
        self.state.apply_paused(polled.paused)
        await _sleep_or_wake(self._wake_slow, SLOW_POLL_INTERVAL)


async def _timed(work: Awaitable[T], limit: float = QUERY_TIMEOUT) -> T:
    """A query that takes longer than `limit` counts as a lost connection (TimeoutError)."""
    async with asyncio.timeout(limit):
        return await work


async def _sleep_or_wake(wake: asyncio.Event, seconds: float) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation that
    # stops the console's workers when the event is set at that same moment.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
    wake.clear()


async def _until_stopped(loops: Sequence[Awaitable[None]], stop: asyncio.Event) -> None:
    """Run the loops until stop is set; a loop that fails (a bug, not a lost connection:
    those they survive) ends them all and its error propagates."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper:
                task.result()
    finally:
        for task in [*tasks, stopper]:
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
