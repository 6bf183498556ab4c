"""Queue history rows put together as samples, and a sample's totals."""

from __future__ import annotations

import datetime as dt

from pgqtop.commands.history import stretch
from pgqtop.db.history import assemble
from pgqtop.db.rows import HistoryRow
from pgqtop.model.history import HistoryPoint, HistorySample

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(seconds=10)


def row(at: dt.datetime, name: str | None, due: int = 0, *, paused_all: bool = False) -> HistoryRow:
    return HistoryRow(at, name, due, 0, 0, None, False, paused_all)


def test_rows_become_one_sample_per_time_in_order() -> None:
    samples = assemble([row(T1, "a", 2), row(T0, None), row(T0, "b", 1), row(T1, "b", 3)])
    assert [(s.at, {n: p.due for n, p in s.entrypoints.items()}) for s in samples] == [
        (T0, {"b": 1}),
        (T1, {"a": 2, "b": 3}),
    ]


def test_a_named_entrypoint_is_zero_where_a_sample_did_not_count_it() -> None:
    samples = assemble([row(T0, None, paused_all=True), row(T1, "a", 4)], entrypoint="a")
    assert [s.entrypoints for s in samples] == [
        {"a": HistoryPoint(paused=True)},  # everything was paused, this one too
        {"a": HistoryPoint(due=4)},
    ]


def test_a_sample_totals_its_entrypoints() -> None:
    sample = HistorySample(
        T0,
        {
            "a": HistoryPoint(due=3, scheduled=1, picked=2, oldest_due_seconds=40.0, paused=True),
            "b": HistoryPoint(due=1, oldest_due_seconds=90.0),
            "c": HistoryPoint(picked=5),
        },
    )
    assert sample.total() == HistoryPoint(
        due=4, scheduled=1, picked=7, oldest_due_seconds=90.0, paused=False
    )
    only_paused = HistorySample(T0, {"a": HistoryPoint(due=1, paused=True)})
    assert only_paused.total().paused
    assert HistorySample(T0, {}, paused_all=True).total() == HistoryPoint(paused=True)
    assert HistorySample(T0, {}).total() == HistoryPoint()


def test_a_table_line_covers_whole_minutes_beyond_ten_minutes() -> None:
    assert [stretch(s) for s in (60, 600, 601, 3600, 86400)] == [10, 10, 60, 60, 1440]
