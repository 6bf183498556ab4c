"""Durations and rates as people read and write them: the CLI's parser and the short forms the
CLI tables and the console's panes print, the queue forecast among them."""

from __future__ import annotations

import pytest

from pgqtop.commands.common import parse_duration
from pgqtop.errors import UsageError
from pgqtop.humanize import age, duration
from pgqtop.tui import format
from pgqtop.tui.state import QueueRow


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), ("45", 45)],
)
def test_durations_read_like_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5q", "m", "10m5", "-3s", "0s", "1h 30m", "inf"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="malformed duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "-"),
        (-4.0, "0s"),
        (0.9, "0s"),
        (59.99, "59s"),
        (60, "1m00s"),
        (185, "3m05s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (7440, "2h04m"),
        (86400, "1d00h"),
        (266400, "3d02h"),
    ],
)
def test_durations_print_in_two_units_at_most(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "-"),
        (-4.0, "0s"),
        (59.99, "59s"),
        (60, "1m"),
        (185, "3m"),
        (239.9, "3m"),
        (3599, "59m"),
        (3600, "1h00m"),
        (7440, "2h04m"),
        (266400, "3d02h"),
    ],
)
def test_a_panes_age_drops_its_seconds_past_a_minute(seconds: float | None, shown: str) -> None:
    """Seconds tick below a minute; past it the text changes once a minute, not every
    second, so an idle console has few rows to redraw."""
    assert age(seconds) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.2, "1s"), (42.4, "42s"), (90, "2m"), (5400, "2h"), (200000, "2d")],
)
def test_a_forecast_says_its_estimate_in_one_unit(seconds: float, shown: str) -> None:
    assert format.rough_duration(seconds) == shown


@pytest.mark.parametrize(
    ("per_second", "shown"),
    [(0, "0"), (0.26, "0.3"), (9.96, "10.0"), (12.6, "13"), (4321, "4,321")],
)
def test_rates_keep_a_decimal_only_while_small(per_second: float, shown: str) -> None:
    assert format.rate(per_second) == shown


def test_counts_group_thousands() -> None:
    assert format.count(1234567) == "1,234,567"


NOW = 1000.0
DRAIN = [(NOW - 50 + t, t if t <= 30 else 60 - t) for t in range(50)]
"""Once a second: 0 -> 30 due jobs in 30 s, then draining at 1/s (10 left now)."""


def row_with(
    due: int,
    history: list[tuple[float, int]] | None = None,
    completed_minute: int = 0,
    picked: int = 0,
) -> QueueRow:
    row = QueueRow("mail", due=due, picked=picked, completed_minute=completed_minute)
    row.history.extend(history or [])
    return row


@pytest.mark.parametrize(
    ("row", "shown"),
    [
        (row_with(0), "empty"),
        (row_with(0, [(NOW - 10, 0)]), "empty"),
        (row_with(100, [(NOW - 10, 50), (NOW - 5, 75)]), "growing +5.0/s"),
        (row_with(100, [(NOW - 10, 300), (NOW - 5, 200)]), "clears in ~5s"),
        (row_with(6000, [(NOW - 60, 12000), (NOW - 30, 9000)]), "clears in ~1m"),
        # No trend yet, but jobs are being done: estimate from the completion rate.
        (row_with(600, [(NOW - 1, 600)], completed_minute=600), "clears in ~1m"),
        (row_with(600, [(NOW - 10, 600)] * 3, completed_minute=600), "steady"),
        (row_with(600, [(NOW - 10, 600)] * 3, picked=4), "working"),
        (row_with(600, [(NOW - 10, 600)] * 3), "stalled"),
        # Draining 30 jobs in 30 s after they piled up: the window fits the drain, not the
        # growth before it.
        (row_with(10, DRAIN, completed_minute=20), "clears in ~10s"),
    ],
)
def test_forecast_reads_the_due_trend_then_the_completion_rate(row: QueueRow, shown: str) -> None:
    assert format.forecast(row, NOW) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(3240, "in 54m00s"), (-180, "3m00s ago"), (0.4, "now"), (None, "-")],
)
def test_moments_read_ahead_and_behind(seconds: float | None, shown: str) -> None:
    assert format.relative(seconds) == shown
