"""Latency histograms: the fixed bucket bounds the completion statement counts waits and run
times into, and the percentiles read back from summed buckets.

A job's wait (from due to picked) and run time each fall into one of BUCKET_COUNT buckets with
log-spaced bounds, five per decade from 1 ms to about 66 minutes: bucket 0 holds values below
1 ms, bucket k holds [BOUNDS[k-1], BOUNDS[k]), and the last holds everything from BOUNDS[-1] up.
The statistics table keeps one count per bucket, so a window's percentiles come from adding
counts, never from per-job rows.

Error bound: a percentile is interpolated linearly inside the bucket that holds its rank, which is
the bucket that holds the true value too. The estimate is therefore within a factor of
BUCKET_RATIO (10 ** 0.2, about 1.58) of the true value, within 1 ms below 1 ms, and never above the
largest value observed in the window (the statistics keep each row's maximum, which also closes
the open-ended last bucket).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence

BUCKETS_PER_DECADE = 5
LOWEST_BOUND = 0.001
"""Seconds: the first bound; values below it share bucket 0."""
BOUND_COUNT = 34
"""Bounds 1 ms .. 10 ** (33 / 5) ms, about 3981 s."""
BOUNDS: tuple[float, ...] = tuple(10.0 ** (k / BUCKETS_PER_DECADE - 3) for k in range(BOUND_COUNT))
"""Ascending bucket bounds in seconds; the completion statement passes them to width_bucket."""
BUCKET_COUNT = BOUND_COUNT + 1
BUCKET_RATIO = 10.0 ** (1 / BUCKETS_PER_DECADE)
"""How much wider each bucket is than the one before: the relative error bound."""

PERCENTILES = (0.50, 0.95, 0.99)


def bucket_of(seconds: float) -> int:
    """The bucket a value falls in, as PostgreSQL's width_bucket(seconds, BOUNDS) numbers it."""
    return bisect.bisect_right(BOUNDS, seconds)


def bucket_range(index: int, largest: float | None = None) -> tuple[float, float]:
    """The [low, high) seconds of a bucket; the last bucket's high end is the largest value
    seen (or its own low end when that is unknown)."""
    low = 0.0 if index == 0 else BOUNDS[index - 1]
    if index < len(BOUNDS):
        high = BOUNDS[index]
    else:
        high = max(low, largest) if largest is not None else low
    return low, high


def add_histograms(histograms: Iterable[Sequence[int]]) -> list[int]:
    """Counts added bucket by bucket; shorter histograms have no counts in the later buckets."""
    total: list[int] = []
    for histogram in histograms:
        if len(histogram) > len(total):
            total.extend([0] * (len(histogram) - len(total)))
        for index, count in enumerate(histogram):
            total[index] += count
    return total


def percentile(histogram: Sequence[int], fraction: float, largest: float | None) -> float | None:
    """The value below which `fraction` of the counted values lie, interpolated inside its
    bucket and capped at `largest`; None when nothing was counted."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"a percentile fraction lies in (0, 1], not {fraction}")
    total = sum(histogram)
    if total <= 0:
        return None
    rank = fraction * total
    below = 0
    for index, count in enumerate(histogram):
        if count > 0 and below + count >= rank:
            low, high = bucket_range(index, largest)
            if largest is not None:
                high = min(high, max(largest, low))
            estimate = low + (high - low) * (rank - below) / count
            return min(estimate, largest) if largest is not None else estimate
        below += count
    return largest  # unreachable for a consistent histogram; the safest answer otherwise


@dataclasses.dataclass(frozen=True, slots=True)
class Percentiles:
    """p50, p95 and p99 of one measure in seconds; None each when nothing was counted."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    count: int = 0

    @classmethod
    def of(cls, histogram: Sequence[int], largest: float | None) -> Percentiles:
        p50, p95, p99 = (percentile(histogram, f, largest) for f in PERCENTILES)
        return cls(p50, p95, p99, sum(histogram))
