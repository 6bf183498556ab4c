"""Latency percentiles from histograms: the buckets, the interpolation, and the promised error
bound against distributions whose true percentiles are known."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from pgqtop.model.latency import (
    BOUNDS,
    BUCKET_COUNT,
    BUCKET_RATIO,
    Percentiles,
    add_histograms,
    bucket_of,
    bucket_range,
    percentile,
)


def histogram_of(values: list[float]) -> list[int]:
    """What the completion statement stores: counts per bucket, up to the last one used."""
    counts = [0] * (max(bucket_of(v) for v in values) + 1)
    for value in values:
        counts[bucket_of(value)] += 1
    return counts


def true_percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with `fraction` of all at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def test_bounds_rise_by_the_ratio_from_a_millisecond_to_about_an_hour() -> None:
    assert BOUNDS[0] == pytest.approx(0.001)
    assert 3600 < BOUNDS[-1] < 3600 * BUCKET_RATIO
    assert all(b / a == pytest.approx(BUCKET_RATIO) for a, b in itertools.pairwise(BOUNDS))
    assert len(BOUNDS) + 1 == BUCKET_COUNT


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0.0, 0), (0.0009, 0), (0.001, 1), (0.0015, 1), (0.01, 6), (1.0, 16), (1e6, len(BOUNDS))],
)
def test_a_value_falls_in_the_bucket_whose_lower_bound_it_reaches(
    seconds: float, bucket: int
) -> None:
    assert bucket_of(seconds) == bucket
    low, high = bucket_range(bucket, largest=2e6)
    assert low <= seconds < high or bucket == len(BOUNDS)


def test_histograms_of_different_lengths_add_bucket_by_bucket() -> None:
    assert add_histograms([[1, 2], [0, 1, 5], []]) == [1, 3, 5]
    assert add_histograms([]) == []


def test_nothing_counted_has_no_percentiles() -> None:
    assert Percentiles.of([], None) == Percentiles(None, None, None, 0)
    assert Percentiles.of([0, 0, 0], 1.0) == Percentiles(None, None, None, 0)


def test_a_percentile_interpolates_inside_its_bucket() -> None:
    # 100 values in [10 ms, 15.8 ms): the median lies halfway through that bucket.
    histogram = [0] * 6 + [100]
    low, high = bucket_range(6)
    assert percentile(histogram, 0.5, None) == pytest.approx(low + (high - low) * 0.5)
    assert percentile(histogram, 1.0, None) == pytest.approx(high)


def test_no_percentile_exceeds_the_largest_value_seen() -> None:
    histogram = [0] * 6 + [100]
    uncapped = percentile(histogram, 0.99, None)
    assert uncapped is not None and uncapped > 0.011
    capped = percentile(histogram, 0.99, 0.011)
    assert capped is not None and 0.01 < capped <= 0.011
    assert percentile(histogram, 1.0, 0.011) == pytest.approx(0.011)
    # The open last bucket ends at the largest value.
    last = [0] * len(BOUNDS) + [10]
    assert percentile(last, 1.0, 7200.0) == pytest.approx(7200.0)
    assert BOUNDS[-1] < (percentile(last, 0.5, 7200.0) or 0) < 7200.0


def test_fractions_outside_zero_to_one_are_refused() -> None:
    with pytest.raises(ValueError, match="fraction"):
        percentile([1], 0.0, None)
    with pytest.raises(ValueError, match="fraction"):
        percentile([1], 1.5, None)


def distributions() -> dict[str, list[float]]:
    rng = random.Random(15)
    return {
        "uniform 0-2s": [rng.uniform(0, 2) for _ in range(20_000)],
        "exponential mean 50ms": [rng.expovariate(20) for _ in range(20_000)],
        "log-normal around 300ms": [rng.lognormvariate(math.log(0.3), 1.2) for _ in range(20_000)],
        "two modes 5ms and 3s": [rng.gauss(0.005, 0.001) for _ in range(15_000)]
        + [rng.gauss(3.0, 0.3) for _ in range(5_000)],
    }


@pytest.mark.parametrize("name", list(distributions()))
def test_percentiles_are_within_the_bucket_ratio_of_the_truth(name: str) -> None:
    values = [max(v, 0.0) for v in distributions()[name]]
    histogram = histogram_of(values)
    for fraction in (0.5, 0.95, 0.99):
        truth = true_percentile(values, fraction)
        estimate = percentile(histogram, fraction, max(values))
        assert estimate is not None
        if truth < BOUNDS[0]:
            assert estimate < BOUNDS[0]
        else:
            assert truth / BUCKET_RATIO <= estimate <= truth * BUCKET_RATIO, (fraction, truth)
