"""The one snapshot every pane renders from.

Feeders (the NOTIFY watcher, the polls, the embedded engine) write here; panes only read. A
`version` counter lets the app repaint at most a few times a second, and only when something
actually changed, however fast events arrive; `versions` says which panes show the change, so
the others are left alone. A poll that brings back what is already held marks nothing: an idle
console then redraws only the ages that tick with the clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from pgqtop.db.rows import (
    FailureGroup,
    FailureSummary,
    InFlightJob,
    PauseInfo,
    QueueDepth,
    ScheduleInfo,
    SeriesPoint,
    WorkerInfo,
)
from pgqtop.model import ALL_ENTRYPOINTS, Event, printable, target_label
from pgqtop.model.audit import Action, AuditEntry
from pgqtop.model.forecast import Forecast, Sample, forecast
from pgqtop.model.history import HistorySample
from pgqtop.operations import Latency, completed_by_entrypoint

if TYPE_CHECKING:
    from pgqtop.engine.manager import EngineEvent

Clock = Callable[[], float]

PANES = ("header", "queues", "chart", "events", "workers", "failures")
"""The parts of the screen that repaint on their own."""
CLOCK_PANES = ("queues", "workers", "failures")
"""Panes with ages and countdowns that move with the clock (redrawn once a second)."""
DRIFT = 1.0
"""Seconds the oldest due job's start may move before it counts as a change: each count
measures its age a little differently, and the pane shows whole seconds."""
EVENT_LIMIT = 200
AUDIT_REMEMBERED = 1000
"""Audit entry ids remembered so that none is shown twice."""
HISTORY_SAMPLES = 320
"""Due-count samples kept per entrypoint, one a second at most: the forecast's longest window
(model.forecast.MAX_WINDOW) and some."""


@dataclasses.dataclass(frozen=True, slots=True)
class ChartWindow:
    key: str
    label: str
    seconds: float
    bucket: float
    unit: str
    unit_seconds: float

    @property
    def scroll(self) -> float:
        """Seconds an unchanged chart waits before sliding along its time axis."""
        return max(self.bucket, min(self.seconds / SCROLL_STEPS, SCROLL_MOST))


SCROLL_STEPS = 12
"""An unchanged chart slides in this many steps across its window..."""
SCROLL_MOST = 60.0
"""...or once a minute (a bucket at least), whichever is more often."""
CHART_WINDOWS = (
    ChartWindow("1", "1m", 60, 1, "s", 1),
    ChartWindow("2", "15m", 900, 15, "min", 60),
    ChartWindow("3", "1h", 3600, 60, "min", 60),
    ChartWindow("4", "24h", 86400, 900, "h", 3600),
)
CHART_VIEWS = ("rate", "outcomes", "latency", "depth", "oldest")
HISTORY_VIEWS = ("depth", "oldest")
"""Chart views drawn from the queue history, which is read only while one is shown."""


def chart_window(label: str) -> ChartWindow:
    for window in CHART_WINDOWS:
        if label in (window.label, window.key):
            return window
    return CHART_WINDOWS[0]


@dataclasses.dataclass(slots=True)
class QueueRow:
    """What the console knows about one entrypoint."""

    entrypoint: str
    due: int = 0
    """Queued jobs whose time has come; a NOTIFY cannot tell them from scheduled ones, so new
    jobs count here until the next count says otherwise."""
    scheduled: int = 0
    """Queued jobs waiting for a later time, as of the last count."""
    picked: int = 0
    failed_recent: int = 0
    completed_minute: int = 0
    oldest_since: float | None = None
    """Clock time the oldest due job became due; its age grows without a new query."""
    next_due_at: float | None = None
    """Clock time the next scheduled job comes due, as of the last count."""
    history: deque[Sample] = dataclasses.field(
        default_factory=lambda: deque(maxlen=HISTORY_SAMPLES)
    )
    """(clock time, due jobs), about one a second: what the forecast reads."""

    @property
    def completed_per_second(self) -> float:
        return self.completed_minute / 60.0

    def forecast(self, now: float) -> Forecast:
        """Where the due backlog is heading, on its net rate over the recent samples."""
        return forecast([*self.history, (now, self.due)], self.completed_per_second)


COUNTED_ACTIONS = frozenset({Action.PURGE, Action.PURGE_FAILURES, Action.REQUEUE, Action.ENQUEUE})
"""Actions whose count (rows touched) says something the target does not."""


def audit_line(entry: AuditEntry) -> str:
    """`purge send_email (1,200) by ana@vm: bad deploy`, every database string made
    printable (the pane draws it as literal text)."""
    counted = entry.action in COUNTED_ACTIONS
    text = f"{entry.action} {printable(target_label(entry.target))}"
    if counted:
        text += f" ({entry.count:,})"
    text += f" by {printable(entry.actor) or '?'}"
    if entry.reason:
        text += f": {printable(entry.reason)}"
    return text


@dataclasses.dataclass(slots=True)
class EventLine:
    at: float
    text: str
    kind: str = "change"


@dataclasses.dataclass(slots=True)
class SeenWorker:
    info: WorkerInfo
    seen_at: float


@dataclasses.dataclass(slots=True)
class EngineView:
    """The embedded engine as the header and workers pane show it."""

    present: bool = False
    state: str = "none"
    concurrency: int = 0
    in_flight: int = 0
    succeeded: int = 0
    failed: int = 0


@dataclasses.dataclass(slots=True)
class ConsoleState:
    clock: Clock = time.time
    database: str = ""
    server_version: str = ""
    connection: str = "connecting"
    """connecting / connected / reconnecting."""
    reconnect_at: float | None = None
    last_error: str = ""
    notifications: str = ""
    """How news arrives when not by LISTEN ("replica · polling every 2s"); "" when listening."""
    read_only: bool = False
    frozen: bool = False
    filter_text: str = ""
    chart_window: ChartWindow = CHART_WINDOWS[0]
    chart_view: str = CHART_VIEWS[0]
    stale_after: float = 30.0
    queues: dict[str, QueueRow] = dataclasses.field(default_factory=dict)
    paused: dict[str, PauseInfo] = dataclasses.field(default_factory=dict)
    paused_seen_at: float = 0.0
    schedules: dict[str, ScheduleInfo] = dataclasses.field(default_factory=dict)
    schedules_seen_at: float = 0.0
    series: list[SeriesPoint] = dataclasses.field(default_factory=list)
    series_at: float = 0.0
    chart_history: list[HistorySample] = dataclasses.field(default_factory=list)
    chart_audit: list[AuditEntry] = dataclasses.field(default_factory=list)
    chart_latency: dict[str, Latency] = dataclasses.field(default_factory=dict)
    """Wait and run percentiles per entrypoint over the chart's window (the latency view)."""
    chart_latency_key: tuple[str, float] = ("", 0.0)
    """The window those percentiles are of, and when they were read."""
    """The audit trail of the chart's window: its pauses and resumes are marked."""
    workers: list[SeenWorker] = dataclasses.field(default_factory=list)
    held_jobs: dict[uuid.UUID | None, list[InFlightJob]] = dataclasses.field(default_factory=dict)
    """The running jobs by the worker holding them, longest running first."""
    workers_seen_at: float | None = None
    """Clock time of the last workers poll; None before the first."""
    failures: list[FailureSummary] = dataclasses.field(default_factory=list)
    failures_grouped: bool = False
    """The failures pane shows groups by fingerprint; only then are the groups polled."""
    failure_groups: list[FailureGroup] = dataclasses.field(default_factory=list)
    events: deque[EventLine] = dataclasses.field(default_factory=lambda: deque(maxlen=EVENT_LIMIT))
    pending: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    audit_seen: dict[int, None] = dataclasses.field(default_factory=dict)
    """Ids of the audit entries shown (insertion-ordered, the oldest forgotten first)."""
    engine: EngineView = dataclasses.field(default_factory=EngineView)
    reconciled_at: float | None = None
    """Clock time of the last full count; None before the first."""
    dropped_at: float | None = None
    """When the connection was last lost; None while it never was."""
    refreshed: dict[str, float] = dataclasses.field(default_factory=dict)
    """Clock time each pane's data (by pane id) last came from the database."""
    version: int = 0
    """Bumped on every change; the app repaints when it moved."""
    versions: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(PANES, 0))
    """Per pane, the version of its last change: the app redraws the panes whose entry moved."""

    def touch(self, *panes: str) -> None:
        """Mark a change shown by the named panes (none named: by all of them)."""
        self.version += 1
        for pane in panes or PANES:
            self.versions[pane] = self.version

    def row(self, entrypoint: str) -> QueueRow:
        found = self.queues.get(entrypoint)
        if found is None:
            found = self.queues[entrypoint] = QueueRow(entrypoint)
        return found

    # feeders ----------------------------------------------------------------------------------

    def apply_event(self, event: Event) -> None:
        """Fold one NOTIFY event into the counts; the text line waits for `flush_events`."""
        now = self.clock()
        if event.audit is not None:
            self.apply_audit(event.audit)
            return
        if event.op in ("pause", "resume", "cancel", "control"):
            # The action's audit entry, announced with it, is its line: who, what and why.
            return
        if event.overflow or event.op == "truncate":
            self.add_event(f"{event.op}: many changes at once", "control")
            return
        for entrypoint, deltas in event.changes.items():
            row = self.row(entrypoint)
            due_before = row.due
            row.due = max(0, row.due + deltas.get("queued", 0))
            row.picked = max(0, row.picked + deltas.get("picked", 0))
            if due_before == 0 and row.due > 0 and row.oldest_since is None:
                row.oldest_since = now
            if row.due == 0:
                row.oldest_since = None
            pending = self.pending.setdefault(entrypoint, {})
            for status, delta in deltas.items():
                pending[status] = pending.get(status, 0) + delta
        self.touch("queues")

    def flush_events(self) -> None:
        """Turn the deltas gathered since the last flush into one line per entrypoint."""
        for entrypoint, deltas in sorted(self.pending.items()):
            parts = [f"{delta:+d} {status}" for status, delta in deltas.items() if delta]
            if parts:
                self.add_event(f"{entrypoint} {', '.join(parts)}")
        self.pending.clear()

    def add_event(self, text: str, kind: str = "change", at: float | None = None) -> None:
        """A line for the events pane, newest first (`at`: an older moment, put in its place)."""
        line = EventLine(self.clock() if at is None else at, text, kind)
        position = 0
        while position < len(self.events) and self.events[position].at > line.at:
            position += 1
        if position >= EVENT_LIMIT:
            return
        if len(self.events) == self.events.maxlen:
            self.events.pop()
        self.events.insert(position, line)
        self.touch("events")

    def apply_audit(self, entry: AuditEntry) -> None:
        """An operator action, from whichever console or command did it, as one line: its
        announcement and the trail read after a reconnect both come here, once per entry."""
        if entry.id in self.audit_seen:
            return
        self.audit_seen[entry.id] = None
        while len(self.audit_seen) > AUDIT_REMEMBERED:
            del self.audit_seen[next(iter(self.audit_seen))]
        self.add_event(audit_line(entry), "control", at=entry.at.timestamp())

    def apply_engine_event(self, event: EngineEvent) -> None:
        """The embedded worker's own news; its view of a pause is left out (the pause's audit
        entry says it, with who and why)."""
        if event.kind != "paused":
            self.add_event(event.message, "engine")

    def apply_counts(self, depths: Iterable[QueueDepth]) -> None:
        """The reconciliation truth replaces whatever drift the event stream accumulated, and
        tells due jobs from scheduled ones, which the events cannot."""
        now = self.clock()
        self.reconciled_at = now
        self.refreshed["queues"] = now
        before = self._counted()
        seen: set[str] = set()
        for depth in depths:
            row = self.row(depth.entrypoint)
            seen.add(depth.entrypoint)
            row.due, row.scheduled, row.picked = depth.due, depth.scheduled, depth.picked
            row.oldest_since = _moment(
                row.oldest_since,
                None if depth.oldest_due_seconds is None else now - depth.oldest_due_seconds,
            )
            row.next_due_at = (
                None if depth.next_due_seconds is None else now + depth.next_due_seconds
            )
        for entrypoint, row in self.queues.items():
            if entrypoint not in seen:
                row.due = row.scheduled = row.picked = 0
                row.oldest_since = row.next_due_at = None
        self.sample_trend()
        if self._counted() != before:
            self.touch("queues")

    def _counted(self) -> list[tuple[object, ...]]:
        return [
            (r.entrypoint, r.due, r.scheduled, r.picked, r.oldest_since, r.next_due_at)
            for r in self.queues.values()
        ]

    def next_due_at(self) -> float | None:
        """Clock time the first scheduled job of any entrypoint comes due (a count then moves
        it from scheduled to due); None when nothing is scheduled."""
        times = [row.next_due_at for row in self.queues.values() if row.next_due_at is not None]
        return min(times, default=None)

    def sample_trend(self) -> None:
        now = self.clock()
        for row in self.queues.values():
            if not row.history or now - row.history[-1][0] >= 1.0:
                row.history.append((now, row.due))

    def apply_outcomes(self, outcomes: Mapping[tuple[str, str], int]) -> None:
        """Jobs finished in the last minute, counted as `pgqtop status` counts them."""
        totals = completed_by_entrypoint(outcomes)
        changed = False
        for entrypoint in set(totals) | set(self.queues):
            changed |= entrypoint not in self.queues
            row = self.row(entrypoint)
            changed |= row.completed_minute != totals.get(entrypoint, 0)
            row.completed_minute = totals.get(entrypoint, 0)
        if changed:
            self.touch("queues")

    def apply_failure_counts(self, counts: Mapping[str, int]) -> None:
        before = {name: row.failed_recent for name, row in self.queues.items()}
        for entrypoint, row in self.queues.items():
            row.failed_recent = counts.get(entrypoint, 0)
        for entrypoint, count in counts.items():
            self.row(entrypoint).failed_recent = count
        if before != {name: row.failed_recent for name, row in self.queues.items()}:
            self.touch("queues")

    def apply_series(self, series: list[SeriesPoint]) -> None:
        self.refreshed["throughput"] = self.clock()
        """The chart changes with new or changed points; old ones leaving the window only
        slide the chart along its time axis, redrawn in steps (ChartWindow.scroll) rather
        than at each poll."""
        arrived = not set(series) <= set(self.series)
        if arrived or self.clock() - self.series_at >= self.chart_window.scroll:
            self.series = series
            self.series_at = self.clock()
            self.touch("chart")

    def apply_chart_history(self, history: list[HistorySample]) -> None:
        if history != self.chart_history:
            self.chart_history = history
            self.touch("chart")

    def apply_chart_audit(self, audit: list[AuditEntry]) -> None:
        if audit != self.chart_audit:
            self.chart_audit = audit
            self.touch("chart")

    def apply_latency(self, window: str, latency: dict[str, Latency]) -> None:
        if latency == self.chart_latency and window == self.chart_latency_key[0]:
            return
        self.chart_latency = latency
        self.chart_latency_key = (window, self.clock())
        self.touch("chart")

    def apply_workers(self, workers: Iterable[WorkerInfo]) -> None:
        """A new heartbeat alone is no change: the pane's ages move with the clock."""
        now = self.refreshed["workers"] = self.clock()
        fresh = [SeenWorker(w, now) for w in workers]
        changed = [_beatless(s.info) for s in fresh] != [_beatless(s.info) for s in self.workers]
        self.workers = fresh
        self.workers_seen_at = now
        if changed:
            self.touch("workers", "queues")

    def apply_held_jobs(self, jobs: Iterable[InFlightJob]) -> None:
        held: dict[uuid.UUID | None, list[InFlightJob]] = {}
        for job in jobs:
            held.setdefault(job.worker_id, []).append(job)
        changed = _held_key(held) != _held_key(self.held_jobs)
        self.held_jobs = held
        if changed:
            self.touch("workers")

    def apply_failures(self, failures: list[FailureSummary]) -> None:
        self.refreshed["failures"] = self.clock()
        if failures != self.failures:
            self.failures = failures
            self.touch("failures")

    def apply_failure_groups(self, groups: list[FailureGroup]) -> None:
        if groups != self.failure_groups:
            self.failure_groups = groups
            self.touch("failures")

    def apply_paused(self, paused: Iterable[PauseInfo]) -> None:
        """A timed pause counts down between polls; only a new pause, a resume or a changed
        one is a change."""
        fresh = {p.entrypoint: p for p in paused}
        changed = {n: _unclocked(p) for n, p in fresh.items()} != {
            n: _unclocked(p) for n, p in self.paused.items()
        }
        self.paused = fresh
        self.paused_seen_at = self.clock()
        if changed:
            self.touch("queues")

    def apply_schedules(self, schedules: Iterable[ScheduleInfo]) -> None:
        """Timetables; a scheduled entrypoint gets a queue row even before its first job."""
        fresh = {s.entrypoint: s for s in schedules}
        changed = {n: _unclocked(s) for n, s in fresh.items()} != {
            n: _unclocked(s) for n, s in self.schedules.items()
        } or any(name not in self.queues for name in fresh)
        self.schedules = fresh
        self.schedules_seen_at = self.clock()
        for name in self.schedules:
            self.row(name)
        if changed:
            self.touch("queues")

    def set_connection(
        self, connection: str, *, retry_in: float | None = None, error: str = ""
    ) -> None:
        if (connection, retry_in, error) == (self.connection, None, self.last_error):
            return
        if self.connection == "connected" and connection != "connected":
            self.dropped_at = self.clock()
        if connection == "connected" and self.dropped_at is not None:
            self.refreshed["events"] = self.clock()  # the listener hears changes again
        self.connection = connection
        self.reconnect_at = None if retry_in is None else self.clock() + retry_in
        self.last_error = error
        self.touch()

    # derived views ----------------------------------------------------------------------------

    def stale_since(self, pane: str) -> float | None:
        """When the connection dropped, for a pane whose data has not come from the database
        since; None for a pane that is current."""
        if self.dropped_at is None or self.refreshed.get(pane, 0.0) >= self.dropped_at:
            return None
        return self.dropped_at

    def now(self, pane: str) -> float:
        """The time a pane measures its ages against: stopped at the moment its data went
        stale, so nothing ticks on as if it were live."""
        stale = self.stale_since(pane)
        return self.clock() if stale is None else stale

    def pause_remaining(self, entrypoint: str) -> float | None:
        """Seconds left on a timed pause (counting down between polls); None if open-ended."""
        info = self.paused.get(entrypoint) or self.paused.get(ALL_ENTRYPOINTS)
        if info is None or info.remaining_seconds is None:
            return None
        return max(0.0, info.remaining_seconds - (self.clock() - self.paused_seen_at))

    def next_run_in(self, entrypoint: str) -> float | None:
        """Seconds to the entrypoint's next scheduled run (counting down between polls),
        negative once it is overdue; None when it has no schedule."""
        info = self.schedules.get(entrypoint)
        if info is None:
            return None
        return info.due_in_seconds - (self.clock() - self.schedules_seen_at)

    def is_paused(self, entrypoint: str) -> bool:
        """Paused until resumed, or a timed pause with time left on it."""
        info = self.paused.get(entrypoint) or self.paused.get(ALL_ENTRYPOINTS)
        if info is None:
            return False
        return info.remaining_seconds is None or bool(self.pause_remaining(entrypoint))

    def visible_queues(self) -> list[QueueRow]:
        needle = self.filter_text.lower()
        return [
            row for name, row in sorted(self.queues.items()) if not needle or needle in name.lower()
        ]

    def declaring(self, entrypoint: str) -> list[str]:
        """The live workers (heartbeat within the stale limit) that declare the entrypoint,
        as `host:pid`."""
        return [
            f"{seen.info.host}:{seen.info.pid}"
            for seen in self.workers
            if entrypoint in seen.info.entrypoints and self.worker_age(seen) <= self.stale_after
        ]

    def worker_age(self, seen: SeenWorker) -> float:
        return seen.info.heartbeat_age + (self.now("workers") - seen.seen_at)

    def reconnect_in(self) -> float:
        if self.reconnect_at is None:
            return 0.0
        return max(0.0, self.reconnect_at - self.clock())


def _moment(held: float | None, fresh: float | None) -> float | None:
    """A polled clock time, kept as held while it moved less than DRIFT."""
    if held is not None and fresh is not None and abs(fresh - held) < DRIFT:
        return held
    return fresh


def _beatless(info: WorkerInfo) -> WorkerInfo:
    """A worker without its heartbeat: what a poll changes only when the worker did."""
    return dataclasses.replace(info, heartbeat=_EPOCH, heartbeat_age=0.0)


def _held_key(held: Mapping[uuid.UUID | None, list[InFlightJob]]) -> object:
    """The running jobs without their clock-driven seconds."""
    return {
        worker: [(j.id, j.entrypoint, j.priority, j.attempts, j.started) for j in jobs]
        for worker, jobs in held.items()
    }


def _unclocked(info: PauseInfo | ScheduleInfo) -> object:
    """A pause or a schedule without the seconds that count down between polls."""
    if isinstance(info, PauseInfo):
        return dataclasses.replace(info, remaining_seconds=None)
    return dataclasses.replace(info, due_in_seconds=0.0, read_at=_EPOCH)


_EPOCH = dt.datetime.fromtimestamp(0, dt.UTC)
