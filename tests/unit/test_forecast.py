"""The backlog forecast on net rate: drains, growth, steady flow, and what it does with too
little to go by."""

from __future__ import annotations

import pytest

from pgqtop.model.forecast import MAX_WINDOW, Trend, fit_window, forecast, net_rate


def series(*legs: tuple[float, float, float]) -> list[tuple[float, int]]:
    """Samples once a second through legs of (seconds, due at the start, due at the end)."""
    samples: list[tuple[float, int]] = []
    at = 0.0
    for seconds, start, end in legs:
        for step in range(int(seconds)):
            samples.append((at, round(start + (end - start) * step / seconds)))
            at += 1
    samples.append((at, round(legs[-1][2])))
    return samples


def test_a_drain_after_growth_reads_as_clearing_throughout() -> None:
    # 0 -> 24 in 30 s, then 24 -> 0 in 30 s: the drain is judged on its own seconds.
    samples = series((30, 0, 24), (30, 24, 0))
    for end in range(36, 60):
        found = forecast(samples[: end + 1], completed_per_second=0.4)
        assert found.trend == Trend.CLEARING, end
        assert found.net_rate_per_second == pytest.approx(-0.8, abs=0.1)
        assert found.clears_in_seconds == pytest.approx(60 - end, abs=2.5)
    assert forecast(samples, 0.4).trend == Trend.EMPTY


def test_growth_reads_as_growing_with_its_net_rate() -> None:
    found = forecast(series((40, 100, 300)), completed_per_second=10.0)
    assert found.trend == Trend.GROWING
    assert found.net_rate_per_second == pytest.approx(5.0, abs=0.2)
    assert found.clears_in_seconds is None


def test_steady_flow_through_batches_reads_as_steady() -> None:
    # A worker takes 50 at a time while 10 arrive a second: the count saws around 500.
    samples = [(float(t), 500 + (t % 5) * 10 - 20) for t in range(300)]
    found = forecast(samples, completed_per_second=10.0)
    assert found.trend == Trend.STEADY
    assert found.clears_in_seconds is None


def test_a_backlog_that_neither_moves_nor_completes_is_stalled() -> None:
    assert forecast(series((60, 40, 40)), completed_per_second=0.0).trend == Trend.STALLED


def test_without_a_rate_yet_the_completion_rate_is_the_guess() -> None:
    found = forecast([(0.0, 600), (1.0, 600)], completed_per_second=10.0)
    assert (found.trend, found.net_rate_per_second) == (Trend.CLEARING, None)
    assert found.clears_in_seconds == pytest.approx(60.0)
    assert forecast([(0.0, 600)], 0.0).trend == Trend.UNKNOWN
    assert forecast([], 0.0).trend == Trend.UNKNOWN


def test_the_window_fits_the_backlog_between_its_bounds() -> None:
    samples = series((600, 1000, 1000))
    assert samples[-1][0] - fit_window(samples)[0][0] == MAX_WINDOW
    moving = series((100, 1000, 0))
    window = fit_window(moving)
    assert window[0][0] < moving[-1][0] - 4, "never shorter than the least window"
    assert net_rate(window) == pytest.approx(-10.0, abs=0.5)
    assert net_rate(moving[-2:]) is None, "one second apart says nothing"
