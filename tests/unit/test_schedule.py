"""Timetables: cron expressions, shorthands, intervals and plain seconds parse, bad ones are
refused with their text, and runs missed while nobody was up are skipped."""

from __future__ import annotations

import datetime as dt

import pytest

from pgqtop import QueueManager
from pgqtop.config import Settings
from pgqtop.engine.schedule import Schedule, parse_schedule
from pgqtop.errors import UsageError

UTC = dt.UTC


def at(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 1, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expression", "interval"),
    [
        ("*/5 * * * *", "*/5 * * * *", None),
        ("  0   3 * *  1-5 ", "0 3 * * 1-5", None),
        ("@Daily", "@daily", None),
        ("@every 30s", "@every 30s", 30.0),
        ("@every 5m", "@every 300s", 300.0),
        ("@every 1.5h", "@every 5400s", 5400.0),
        (2.5, "@every 2.5s", 2.5),
    ],
)
def test_cron_expressions_intervals_and_seconds_are_understood(
    given: str | float, expression: str, interval: float | None
) -> None:
    assert parse_schedule(given) == Schedule(expression, interval)


@pytest.mark.parametrize(
    "given", ["", "every day", "* * *", "61 * * * *", "@every 0s", "@reboot", 0, -1, True]
)
def test_bad_timetables_are_refused_with_their_text(given: str | float) -> None:
    with pytest.raises(UsageError, match="invalid schedule"):
        parse_schedule(given)


def test_registering_a_bad_schedule_names_the_entrypoint() -> None:
    manager = QueueManager(Settings(dsn="postgresql://nobody@127.0.0.1:1/never-connected"))
    with pytest.raises(UsageError, match=r"entrypoint 'report'.*invalid schedule"):
        manager.entrypoint("report", schedule="at noon")


def test_missed_runs_are_skipped_not_replayed() -> None:
    every_five = parse_schedule("*/5 * * * *")
    # On time: the run after 12:05 is 12:10.
    assert every_five.next_run(at(12, 5), now=at(12, 5, 1)) == at(12, 10)
    # Nobody was up for an hour: one run now, then the next on the timetable.
    assert every_five.next_run(at(12, 5), now=at(13, 7)) == at(13, 10)
    assert parse_schedule(60).next_run(at(12, 0), now=at(12, 30)) == at(12, 31)
    assert parse_schedule("@hourly").next_run(at(12, 0), now=at(12, 0, 1)) == at(13, 0)


def test_a_cron_run_comes_strictly_after_the_moment_given() -> None:
    assert parse_schedule("*/5 * * * *").after(at(12, 5)) == at(12, 10)
    assert parse_schedule("@every 90").after(at(12, 5)) == at(12, 6, 30)
