"""How the console folds NOTIFY events, reconciliation counts and history into its snapshot."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from pgqtop.db.rows import QueueDepth, SeriesPoint, WorkerInfo
from pgqtop.model import Event
from pgqtop.model.audit import AuditEntry
from pgqtop.tui.state import ConsoleState


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> ConsoleState:
    return ConsoleState(clock=clock)


def update(changes: dict[str, dict[str, int]]) -> Event:
    return Event("update", changes)


def test_events_move_counts_and_never_below_zero(state: ConsoleState) -> None:
    state.apply_event(Event("insert", {"mail": {"queued": 3}}))
    state.apply_event(update({"mail": {"queued": -2, "picked": 2}}))
    assert (state.queues["mail"].due, state.queues["mail"].picked) == (1, 2)
    # A delta for jobs the console never counted (it connected after they were queued) must
    # not show a negative queue.
    state.apply_event(Event("delete", {"mail": {"picked": -5}}))
    assert state.queues["mail"].picked == 0


def test_the_oldest_job_age_starts_when_a_queue_fills_and_clears_when_it_empties(
    state: ConsoleState, clock: Clock
) -> None:
    state.apply_event(Event("insert", {"mail": {"queued": 1}}))
    assert state.queues["mail"].oldest_since == clock.now
    clock.now += 5
    state.apply_event(Event("insert", {"mail": {"queued": 1}}))
    assert state.queues["mail"].oldest_since == clock.now - 5, "a second job is not the oldest"
    state.apply_event(update({"mail": {"queued": -2, "picked": 2}}))
    assert state.queues["mail"].oldest_since is None


def test_deltas_gather_into_one_line_per_entrypoint_per_flush(state: ConsoleState) -> None:
    state.apply_event(Event("insert", {"mail": {"queued": 2}, "crm": {"queued": 1}}))
    state.apply_event(Event("insert", {"mail": {"queued": 3}}))
    state.apply_event(update({"crm": {"queued": -1, "picked": 1}}))
    assert not state.events, "lines wait for the flush"
    state.flush_events()
    assert [line.text for line in state.events] == ["mail +5 queued", "crm +1 picked"]
    state.flush_events()
    assert len(state.events) == 2, "a flush with nothing new adds nothing"


def test_deltas_that_cancel_out_make_no_line(state: ConsoleState) -> None:
    state.apply_event(Event("insert", {"mail": {"queued": 1}}))
    state.apply_event(Event("delete", {"mail": {"queued": -1}}))
    state.flush_events()
    assert not state.events


def test_operator_actions_are_lines_from_their_audit_entries_once_each(
    state: ConsoleState, clock: Clock
) -> None:
    # The control NOTIFY of a pause, resume or cancel is no line: its audit entry is.
    state.apply_event(Event("pause", entrypoints=("mail",)))
    state.apply_event(Event("resume", entrypoints=("*",)))
    state.apply_event(Event("cancel", job_ids=tuple(range(1, 8))))
    state.apply_event(Event("update", overflow=True))
    state.apply_event(Event("truncate"))
    pause = entry(1, "pause", "mail", reason="CRM [bold]rate[/] limit\x1b[2J")
    purge = entry(2, "purge", "*", count=1200)
    state.apply_event(Event("audit", audit=pause))
    state.apply_event(Event("audit", audit=purge))
    state.apply_audit(pause)  # read back from the trail after a reconnect
    state.apply_audit(entry(0, "resume", "mail", at=clock.now - 60))
    assert [(line.text, line.kind) for line in reversed(state.events)] == [
        ("resume mail by ana@vm", "control"),
        ("update: many changes at once", "control"),
        ("truncate: many changes at once", "control"),
        ("pause mail by ana@vm: CRM [bold]rate[/] limit\\x1b[2J", "control"),
        ("purge every entrypoint (1,200) by ana@vm", "control"),
    ]
    assert state.queues == {}


def test_every_change_moves_the_version_the_app_repaints_on(state: ConsoleState) -> None:
    before = state.version
    state.apply_event(Event("insert", {"mail": {"queued": 1}}))
    assert state.version > before


def test_reconciliation_replaces_drift_and_zeroes_what_it_no_longer_finds(
    state: ConsoleState, clock: Clock
) -> None:
    state.apply_event(Event("insert", {"mail": {"queued": 9}, "gone": {"queued": 4}}))
    state.apply_counts([depth("mail", due=7, picked=2, oldest=12.0)])
    mail, gone = state.queues["mail"], state.queues["gone"]
    assert (mail.due, mail.picked, mail.oldest_since) == (7, 2, clock.now - 12.0)
    assert (gone.due, gone.picked, gone.oldest_since) == (0, 0, None)
    assert state.reconciled_at == clock.now


def test_an_entrypoint_with_only_running_jobs_has_no_oldest_queued_age(
    state: ConsoleState,
) -> None:
    state.apply_event(Event("insert", {"mail": {"queued": 1}}))
    state.apply_counts([depth("mail", picked=1)])
    assert (state.queues["mail"].due, state.queues["mail"].oldest_since) == (0, None)


def test_scheduled_jobs_are_no_backlog_and_bring_the_next_count_to_their_due_time(
    state: ConsoleState, clock: Clock
) -> None:
    # A NOTIFY cannot tell a delayed job from a due one; the count can.
    state.apply_event(Event("insert", {"charge": {"queued": 1}}))
    state.apply_counts([depth("charge", scheduled=1, next_due=3240.0)])
    charge = state.queues["charge"]
    assert (charge.due, charge.scheduled, charge.oldest_since) == (0, 1, None)
    assert state.next_due_at() == clock.now + 3240.0
    clock.now += 30
    assert charge.forecast(clock.now).trend == "empty", "nothing is due, nothing to clear"


def test_trend_samples_at_most_once_a_second(state: ConsoleState, clock: Clock) -> None:
    state.apply_event(Event("insert", {"mail": {"queued": 1}}))
    state.sample_trend()
    clock.now += 0.5
    state.sample_trend()
    clock.now += 0.6
    state.sample_trend()
    assert [at for at, _ in state.queues["mail"].history] == [clock.now - 1.1, clock.now]


def entry(
    identifier: int,
    action: str,
    target: str,
    *,
    count: int = 1,
    reason: str = "",
    at: float | None = None,
) -> AuditEntry:
    moment = dt.datetime.fromtimestamp(1000.0 if at is None else at, dt.UTC)
    return AuditEntry(identifier, moment, action, "ana@vm", "console", target, count, reason)


def depth(
    entrypoint: str,
    *,
    due: int = 0,
    scheduled: int = 0,
    picked: int = 0,
    oldest: float | None = None,
    next_due: float | None = None,
) -> QueueDepth:
    read_at = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    return QueueDepth(entrypoint, due, scheduled, picked, oldest, next_due, read_at)


def worker(heartbeat_age: float, processed: int = 10) -> WorkerInfo:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return WorkerInfo(
        id=uuid.UUID(int=1),
        host="vm",
        pid=42,
        version="1",
        entrypoints=["mail"],
        concurrency=4,
        started=at,
        heartbeat=at + dt.timedelta(seconds=heartbeat_age),
        in_flight=0,
        processed=processed,
        failed=0,
        state="running",
        heartbeat_age=heartbeat_age,
    )


def test_a_poll_that_brings_back_what_is_held_marks_nothing(
    state: ConsoleState, clock: Clock
) -> None:
    state.apply_counts([depth("mail", due=3, oldest=120.0)])
    state.apply_workers([worker(0.5)])
    state.apply_failure_counts({"mail": 2})
    state.apply_outcomes({("mail", "successful"): 6})
    state.apply_series([])
    held = state.version
    clock.now += 1.5
    # The same rows; the oldest job's start measured 0.3 s differently, a newer heartbeat.
    state.apply_counts([depth("mail", due=3, oldest=121.8)])
    state.apply_workers([worker(1.2)])
    state.apply_failure_counts({"mail": 2})
    state.apply_outcomes({("mail", "successful"): 6})
    state.apply_series([])
    state.apply_failures([])
    assert state.version == held
    # A real change marks the panes that show it, and only those.
    state.apply_workers([worker(0.1, processed=11)])
    assert state.version == held + 1
    assert {p for p, v in state.versions.items() if v > held} == {"workers", "queues"}
    state.apply_counts([depth("mail", due=4, oldest=123.0)])
    assert state.versions["queues"] == state.version and state.versions["chart"] <= held


def test_an_unchanged_chart_slides_in_steps_not_at_each_poll(
    state: ConsoleState, clock: Clock
) -> None:
    state.apply_series([])
    first = state.versions["chart"]
    for _ in range(3):
        clock.now += 1.5  # the polls of 4.5 s of the 1m window
        state.apply_series([])
    assert state.versions["chart"] == first
    clock.now += 1.0
    state.apply_series([])
    assert state.versions["chart"] > first


def point(second: int, count: int = 5) -> SeriesPoint:
    at = dt.datetime.fromtimestamp(940 + second, dt.UTC)
    return SeriesPoint(at, "mail", "successful", count, 0.0, 0.0, 0.0, 0.0)


def test_points_leaving_the_window_slide_the_chart_in_steps_and_new_ones_at_once(
    state: ConsoleState, clock: Clock
) -> None:
    state.apply_series([point(s) for s in range(60)])
    first = state.versions["chart"]
    clock.now += 1.5
    state.apply_series([point(s) for s in range(2, 60)])  # two seconds fell out on the left
    assert state.versions["chart"] == first
    clock.now += 1.5
    state.apply_series([point(s) for s in range(3, 60)] + [point(61)])
    assert state.versions["chart"] > first
    assert state.series[-1] == point(61)
