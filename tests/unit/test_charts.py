"""The throughput chart's numbers: every bucket of the window, zero where nothing finished."""

from __future__ import annotations

import datetime as dt

from pgqtop.db.rows import SeriesPoint
from pgqtop.model.audit import AuditEntry
from pgqtop.model.history import HistoryPoint, HistorySample
from pgqtop.tui import charts

NOW = 1_750_000_030.4  # 30.4 s into a minute


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def point(start: float, count: int, status: str = "successful", name: str = "mail") -> SeriesPoint:
    return SeriesPoint(at(start), name, status, count, 0.0, 0.0, 0.0, 0.0)


def test_buckets_cover_the_window_aligned_as_the_database_and_the_last_one_is_filling() -> None:
    frame = charts.buckets(NOW, 60, 1)
    assert len(frame.starts) == 60
    assert frame.starts[-1] == 1_750_000_030.0
    assert frame.starts[0] == 1_750_000_030.0 - 59
    assert all(b - a == 1 for a, b in zip(frame.starts, frame.starts[1:], strict=False))
    assert frame.seconds[:-1] == (1.0,) * 59 and frame.seconds[-1] == 1.0
    day = charts.buckets(NOW, 86400, 900)
    assert len(day.starts) == 96
    assert (day.starts[-1] - charts.ORIGIN) % 900 == 0
    assert day.seconds[-1] == NOW - day.starts[-1]  # 15 min buckets: the last is partial


def test_a_gap_in_completions_is_zero_in_every_bucket_of_it() -> None:
    frame = charts.buckets(NOW, 60, 1)
    last = frame.starts[-1]
    series = charts.rates(
        [point(last - 50, 30), point(last - 5, 30), point(last - 5, 4, "exception")],
        frame,
        charts.WORKER_STATUSES,
    )
    values = series["mail"]
    assert len(values) == 60
    assert values[9] == 30.0 and values[54] == 34.0
    assert values[10:54] == [0.0] * 44
    assert sum(values) == 64.0


def test_rates_per_second_divide_by_the_bucket_and_outcomes_split() -> None:
    frame = charts.buckets(NOW, 900, 15)
    start = frame.starts[-2]
    series = charts.rates([point(start, 30)], frame, charts.WORKER_STATUSES)
    assert series["mail"][-2] == 2.0 and series["mail"][-1] == 0.0
    split = charts.outcome_rates([point(start, 30), point(start, 15, "exception")], frame)
    assert split["ok"][-2] == 2.0 and split["failed"][-2] == 1.0
    assert charts.busiest({"a": [1.0], "b": [3.0], "c": [2.0]}, 2) == ["b", "c"]


def test_history_lines_are_zero_where_a_sample_counted_nothing() -> None:
    samples = [
        HistorySample(at(NOW - 20), {"mail": HistoryPoint(due=5, oldest_due_seconds=12.0)}),
        HistorySample(at(NOW - 10), {}),
        HistorySample(at(NOW - 100), {"mail": HistoryPoint(due=9)}),
    ]
    times, due = charts.history_lines(sorted(samples, key=lambda s: s.at), "due", NOW - 60)
    assert times == [NOW - 20, NOW - 10]
    assert due == {"mail": [5.0, 0.0]}
    _, oldest = charts.history_lines(samples, "oldest", NOW - 60)
    assert oldest == {"mail": [12.0, 0.0]}


def test_pause_marks_come_from_the_trail_of_matching_targets() -> None:
    def entry(seconds_ago: float, action: str, target: str) -> AuditEntry:
        return AuditEntry(1, at(NOW - seconds_ago), action, "ops@host", "postgres", target, 1, "")

    trail = [
        entry(10, "resume", "mail"),
        entry(40, "pause", "mail"),
        entry(30, "purge", "mail"),
        entry(20, "pause", "*"),
        entry(25, "pause", "images"),
        entry(500, "pause", "mail"),
    ]
    marks = charts.pause_marks(trail, NOW - 60, "mail")
    assert [(m.action, m.target) for m in marks] == [
        ("pause", "mail"),
        ("pause", "*"),
        ("resume", "mail"),
    ]
    assert len(charts.pause_marks(trail, NOW - 60)) == 4
