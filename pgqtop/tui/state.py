"""The one snapshot every pane renders from.

Feeders (the NOTIFY watcher, the polls, the embedded engine) write here; panes only read. A
`version` counter lets the app repaint at most a few times a second, and only when something
actually changed, however fast events arrive.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from pgqtop.db.rows import (
    FailureSummary,
    PauseInfo,
    QueueCount,
    ScheduleInfo,
    SeriesPoint,
    WorkerInfo,
)
from pgqtop.model import ALL_ENTRYPOINTS, Event, target_label
from pgqtop.operations import completed_by_entrypoint

Clock = Callable[[], float]

EVENT_LIMIT = 200
TREND_SPAN = 60.0
"""Seconds of queued-count history the drain forecast looks back over."""


@dataclasses.dataclass(frozen=True, slots=True)
class ChartWindow:
    key: str
    label: str
    seconds: float
    bucket: float
    unit: str
    unit_seconds: float


CHART_WINDOWS = (
    ChartWindow("1", "1m", 60, 1, "s", 1),
    ChartWindow("2", "15m", 900, 15, "min", 60),
    ChartWindow("3", "1h", 3600, 60, "min", 60),
    ChartWindow("4", "24h", 86400, 900, "h", 3600),
)
CHART_VIEWS = ("rate", "outcomes", "latency")


def chart_window(label: str) -> ChartWindow:
    for window in CHART_WINDOWS:
        if label in (window.label, window.key):
            return window
    return CHART_WINDOWS[0]


@dataclasses.dataclass(slots=True)
class QueueRow:
    """What the console knows about one entrypoint."""

    entrypoint: str
    queued: int = 0
    picked: int = 0
    failed_recent: int = 0
    completed_minute: int = 0
    oldest_since: float | None = None
    """Clock time the oldest queued job was created; its age grows without a new query."""
    history: deque[tuple[float, int]] = dataclasses.field(default_factory=lambda: deque(maxlen=256))

    @property
    def completed_per_second(self) -> float:
        return self.completed_minute / 60.0

    def trend(self, now: float) -> float:
        """Change of the queued count per second over the recent past."""
        while len(self.history) > 2 and now - self.history[1][0] >= TREND_SPAN:
            self.history.popleft()
        if len(self.history) < 2:
            return 0.0
        then, count = self.history[0]
        elapsed = now - then
        if elapsed < 3.0:
            return 0.0
        return (self.queued - count) / elapsed


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
    workers: list[SeenWorker] = dataclasses.field(default_factory=list)
    failures: list[FailureSummary] = dataclasses.field(default_factory=list)
    events: deque[EventLine] = dataclasses.field(default_factory=lambda: deque(maxlen=EVENT_LIMIT))
    pending: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    engine: EngineView = dataclasses.field(default_factory=EngineView)
    reconciled_at: float | None = None
    """Clock time of the last full count; None before the first."""
    version: int = 0
    """Bumped on every change; the app repaints when it moved."""

    def touch(self) -> None:
        self.version += 1

    def row(self, entrypoint: str) -> QueueRow:
        found = self.queues.get(entrypoint)
        if found is None:
            found = self.queues[entrypoint] = QueueRow(entrypoint)
        return found

    # feeders ----------------------------------------------------------------------------------

    def apply_event(self, event: Event) -> None:
        """Fold one NOTIFY event into the counts; the text line waits for `flush_events`."""
        now = self.clock()
        if event.op in ("pause", "resume"):
            names = ", ".join(event.entrypoints) or "?"
            label = target_label(names)
            self.add_event(f"{event.op} {label}", "control")
            return
        if event.op == "cancel":
            ids = ", ".join(str(i) for i in event.job_ids[:5])
            self.add_event(f"cancel job {ids}", "control")
            return
        if event.overflow or event.op == "truncate":
            self.add_event(f"{event.op}: many changes at once", "control")
            return
        for entrypoint, deltas in event.changes.items():
            row = self.row(entrypoint)
            queued_before = row.queued
            row.queued = max(0, row.queued + deltas.get("queued", 0))
            row.picked = max(0, row.picked + deltas.get("picked", 0))
            if queued_before == 0 and row.queued > 0 and row.oldest_since is None:
                row.oldest_since = now
            if row.queued == 0:
                row.oldest_since = None
            pending = self.pending.setdefault(entrypoint, {})
            for status, delta in deltas.items():
                pending[status] = pending.get(status, 0) + delta
        self.touch()

    def flush_events(self) -> None:
        """Turn the deltas gathered since the last flush into one line per entrypoint."""
        for entrypoint, deltas in sorted(self.pending.items()):
            parts = [f"{delta:+d} {status}" for status, delta in deltas.items() if delta]
            if parts:
                self.add_event(f"{entrypoint} {', '.join(parts)}")
        self.pending.clear()

    def add_event(self, text: str, kind: str = "change") -> None:
        self.events.appendleft(EventLine(self.clock(), text, kind))
        self.touch()

    def apply_counts(self, counts: Iterable[QueueCount]) -> None:
        """The reconciliation truth replaces whatever drift the event stream accumulated."""
        now = self.clock()
        self.reconciled_at = now
        seen: dict[str, QueueRow] = {}
        for count in counts:
            row = seen.get(count.entrypoint) or self.row(count.entrypoint)
            if count.entrypoint not in seen:
                row.queued = row.picked = 0
                row.oldest_since = None
                seen[count.entrypoint] = row
            if count.status == "queued":
                row.queued = count.count
                row.oldest_since = now - count.oldest_seconds
            elif count.status == "picked":
                row.picked = count.count
        for entrypoint, row in self.queues.items():
            if entrypoint not in seen:
                row.queued = row.picked = 0
                row.oldest_since = None
        self.sample_trend()
        self.touch()

    def sample_trend(self) -> None:
        now = self.clock()
        for row in self.queues.values():
            if not row.history or now - row.history[-1][0] >= 1.0:
                row.history.append((now, row.queued))

    def apply_outcomes(self, outcomes: Mapping[tuple[str, str], int]) -> None:
        """Jobs finished in the last minute, counted as `pgqtop status` counts them."""
        totals = completed_by_entrypoint(outcomes)
        for entrypoint in set(totals) | set(self.queues):
            self.row(entrypoint).completed_minute = totals.get(entrypoint, 0)
        self.touch()

    def apply_failure_counts(self, counts: Mapping[str, int]) -> None:
        for entrypoint, row in self.queues.items():
            row.failed_recent = counts.get(entrypoint, 0)
        for entrypoint, count in counts.items():
            self.row(entrypoint).failed_recent = count
        self.touch()

    def apply_series(self, series: list[SeriesPoint]) -> None:
        self.series = series
        self.series_at = self.clock()
        self.touch()

    def apply_workers(self, workers: Iterable[WorkerInfo]) -> None:
        now = self.clock()
        self.workers = [SeenWorker(w, now) for w in workers]
        self.touch()

    def apply_failures(self, failures: list[FailureSummary]) -> None:
        self.failures = failures
        self.touch()

    def apply_paused(self, paused: Iterable[PauseInfo]) -> None:
        self.paused = {p.entrypoint: p for p in paused}
        self.paused_seen_at = self.clock()
        self.touch()

    def apply_schedules(self, schedules: Iterable[ScheduleInfo]) -> None:
        """Timetables; a scheduled entrypoint gets a queue row even before its first job."""
        self.schedules = {s.entrypoint: s for s in schedules}
        self.schedules_seen_at = self.clock()
        for name in self.schedules:
            self.row(name)
        self.touch()

    def set_connection(
        self, connection: str, *, retry_in: float | None = None, error: str = ""
    ) -> None:
        self.connection = connection
        self.reconnect_at = None if retry_in is None else self.clock() + retry_in
        self.last_error = error
        self.touch()

    # derived views ----------------------------------------------------------------------------

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

    def worker_age(self, seen: SeenWorker) -> float:
        return seen.info.heartbeat_age + (self.clock() - seen.seen_at)

    def reconnect_in(self) -> float:
        if self.reconnect_at is None:
            return 0.0
        return max(0.0, self.reconnect_at - self.clock())
