"""Where a backlog is heading, from its net rate: arrivals minus completions, which is how fast
the count of due jobs moves.

The rate is the least-squares slope of the due count over a window that fits the backlog: it
reaches back from now until the count differs from today's by a quarter of the backlog (at
least two jobs), so a short drain is judged on its own seconds and not on the growth before
it, while a long, level backlog is judged over up to five minutes, which smooths workers that
take jobs in batches. A pure function of the samples, so the console (its own samples, every
second) and `status` (the workers' history samples, every ten seconds) read a queue alike.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence

MIN_WINDOW = 5.0
"""Seconds a rate is measured over at the least: one sample apart says nothing."""
MAX_WINDOW = 300.0
"""Seconds a rate is measured over at the most."""
FIT_FRACTION = 0.25
"""The window reaches back until the backlog differs by this much of itself."""
FIT_MIN_CHANGE = 2
"""...and by at least this many jobs."""
STEADY_FRACTION = 0.05
"""A backlog that moves less than this much of itself over the window (or less than one job)
is steady."""

Sample = tuple[float, int]
"""(time in seconds, due jobs), oldest first; the last one is now."""


class Trend(enum.StrEnum):
    EMPTY = "empty"
    """Nothing due."""
    CLEARING = "clearing"
    """Completions outrun arrivals: `clears_in_seconds` says when it is done."""
    GROWING = "growing"
    STEADY = "steady"
    """Completions keep up with arrivals: the backlog stays."""
    STALLED = "stalled"
    """Jobs are due, the backlog does not move and nothing completes."""
    UNKNOWN = "unknown"
    """Too short a look to tell, and nothing completed to go by."""


@dataclasses.dataclass(frozen=True, slots=True)
class Forecast:
    trend: Trend
    net_rate_per_second: float | None
    """Change of the due count per second (negative: shrinking); None when unmeasured."""
    clears_in_seconds: float | None
    """When the due backlog is gone at this rate; None unless it is clearing."""


def fit_window(samples: Sequence[Sample]) -> Sequence[Sample]:
    """The latest samples that fit the backlog (see the module's docstring)."""
    if not samples:
        return samples
    now, current = samples[-1]
    enough = max(FIT_MIN_CHANGE, FIT_FRACTION * current)
    start = len(samples) - 1
    while start > 0:
        at, count = samples[start - 1]
        if now - at > MAX_WINDOW:
            break
        start -= 1
        if now - at >= MIN_WINDOW and abs(count - current) >= enough:
            break
    return samples[start:]


def net_rate(samples: Sequence[Sample]) -> float | None:
    """Least-squares slope of the count over time; None for less than MIN_WINDOW of them."""
    if len(samples) < 2 or samples[-1][0] - samples[0][0] < MIN_WINDOW:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_c = sum(c for _, c in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return None
    return sum((t - mean_t) * (c - mean_c) for t, c in samples) / spread


def forecast(samples: Sequence[Sample], completed_per_second: float) -> Forecast:
    """Where the due backlog of the last sample is heading."""
    if not samples:
        return Forecast(Trend.UNKNOWN, None, None)
    window = fit_window(samples)
    backlog = samples[-1][1]
    rate = net_rate(window)
    if rate is None:
        if backlog == 0:
            return Forecast(Trend.EMPTY, None, None)
        if completed_per_second > 0:
            # Too short a look for a rate: the completion rate is the best guess.
            clears = backlog / completed_per_second
            return Forecast(Trend.CLEARING, None, clears)
        return Forecast(Trend.UNKNOWN, None, None)
    span = window[-1][0] - window[0][0]
    moved = abs(rate) * span
    if backlog == 0:
        trend = Trend.GROWING if moved >= 1 and rate > 0 else Trend.EMPTY
        return Forecast(trend, rate, None)
    if moved < max(1.0, STEADY_FRACTION * backlog):
        trend = Trend.STEADY if completed_per_second > 0 else Trend.STALLED
        return Forecast(trend, rate, None)
    if rate < 0:
        return Forecast(Trend.CLEARING, rate, backlog / -rate)
    return Forecast(Trend.GROWING, rate, None)
