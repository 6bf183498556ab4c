"""What the throughput chart plots, as plain numbers: every bucket of the window, zero where
nothing finished, so a pause or a stopped worker draws a gap at zero instead of a line drawn
across it; and the moments an operator paused or resumed, to mark on the chart.

The buckets are the database's own (`date_bin` from 2000-01-01 UTC in the statistics series),
so a point from the database lands exactly on one of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from pgqtop.db.rows import SeriesPoint
from pgqtop.model import ALL_ENTRYPOINTS, FAILED_OUTCOMES, WORKER_OUTCOMES, Status
from pgqtop.model.audit import Action, AuditEntry
from pgqtop.model.history import HistorySample

ORIGIN = 946684800.0
"""2000-01-01 00:00 UTC as a Unix time: the origin of the statistics series' buckets."""


@dataclasses.dataclass(frozen=True, slots=True)
class Buckets:
    """Every bucket of a window, oldest first: its start time and how many seconds of it have
    passed (the last one is still filling)."""

    starts: tuple[float, ...]
    seconds: tuple[float, ...]


def buckets(now: float, window_seconds: float, bucket: float) -> Buckets:
    """The buckets that cover the last `window_seconds` up to `now`, aligned as the
    database's; the current bucket counts only the seconds elapsed in it (at least one)."""
    current = ORIGIN + math.floor((now - ORIGIN) / bucket) * bucket
    count = max(1, round(window_seconds / bucket))
    starts = tuple(current - (count - 1 - i) * bucket for i in range(count))
    seconds = tuple([bucket] * (count - 1) + [max(1.0, min(bucket, now - current))])
    return Buckets(starts, seconds)


def zero_filled(totals: Mapping[float, float], frame: Buckets) -> list[float]:
    """Per second for every bucket of the frame: a bucket nothing was counted in is zero."""
    return [
        totals.get(start, 0.0) / span
        for start, span in zip(frame.starts, frame.seconds, strict=True)
    ]


def _start(point: SeriesPoint) -> float:
    return point.bucket.timestamp()


def rates(
    points: Iterable[SeriesPoint], frame: Buckets, statuses: frozenset[str]
) -> dict[str, list[float]]:
    """Completions per second of each entrypoint in every bucket, zero-filled; only the given
    outcomes count."""
    totals: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for point in points:
        if point.status in statuses:
            totals[point.entrypoint][_start(point)] += point.count
    return {name: zero_filled(found, frame) for name, found in totals.items()}


def outcome_rates(points: Iterable[SeriesPoint], frame: Buckets) -> dict[str, list[float]]:
    """Successes and failures per second across entrypoints, zero-filled."""
    good: dict[float, float] = defaultdict(float)
    bad: dict[float, float] = defaultdict(float)
    for point in points:
        if point.status == Status.SUCCESSFUL:
            good[_start(point)] += point.count
        elif point.status in FAILED_OUTCOMES:
            bad[_start(point)] += point.count
    return {"ok": zero_filled(good, frame), "failed": zero_filled(bad, frame)}


WORKER_STATUSES = frozenset(str(s) for s in WORKER_OUTCOMES)


def busiest(series: Mapping[str, Sequence[float]], limit: int) -> list[str]:
    """The names with the largest totals first, at most `limit`."""
    return sorted(series, key=lambda name: (-sum(series[name]), name))[:limit]


def history_lines(
    samples: Iterable[HistorySample], field: str, since: float
) -> tuple[list[float], dict[str, list[float]]]:
    """Sample times and, per entrypoint, its due jobs (`due`) or the oldest due job's wait in
    seconds (`oldest`) at each. An entrypoint a sample did not count had none: zero. Only the
    samples taken are plotted; where workers took none, the chart has no point."""
    kept = [s for s in samples if s.at.timestamp() >= since]
    names = sorted({name for s in kept for name in s.entrypoints})
    times = [s.at.timestamp() for s in kept]
    lines: dict[str, list[float]] = {}
    for name in names:
        values: list[float] = []
        for sample in kept:
            point = sample.entrypoints.get(name)
            if point is None:
                values.append(0.0)
            elif field == "due":
                values.append(float(point.due))
            else:
                values.append(point.oldest_due_seconds or 0.0)
        lines[name] = values
    return times, lines


@dataclasses.dataclass(frozen=True, slots=True)
class Mark:
    at: float
    action: str
    """pause or resume."""
    target: str


def pause_marks(entries: Iterable[AuditEntry], since: float, needle: str = "") -> list[Mark]:
    """The pauses and resumes of the trail since `since`, oldest first; with a filter, those
    of matching entrypoints and of everything (`*`)."""
    marks = []
    for entry in entries:
        if entry.action not in (Action.PAUSE, Action.RESUME):
            continue
        at = entry.at.timestamp()
        targets = [t.strip() for t in entry.target.split(",")]
        wanted = not needle or any(t == ALL_ENTRYPOINTS or needle in t.lower() for t in targets)
        if at >= since and wanted:
            marks.append(Mark(at, entry.action, entry.target))
    return sorted(marks, key=lambda m: m.at)
