"""The engine's limits as plain rules: how often a worker beats for a given retry timer, which
timers it refuses, how a --max-memory size reads, what the process's memory is, and how the
completion keeps one outcome per job."""

from __future__ import annotations

import dataclasses

import pytest

from pgqtop.config import EngineSettings
from pgqtop.db.worker import complete_parameters
from pgqtop.engine.memory import parse_size, resident_bytes
from pgqtop.engine.timing import beat_interval, blocked_after, check_timing
from pgqtop.errors import UsageError
from pgqtop.model import Outcome, Status


@pytest.mark.parametrize(
    ("retry", "heartbeat", "beat"),
    [(30.0, 5.0, 5.0), (6.0, 5.0, 2.0), (2.0, 5.0, 2 / 3), (1.0, 0.2, 0.2), (0.0, 5.0, 5.0)],
)
def test_the_heartbeat_follows_the_retry_timer(retry: float, heartbeat: float, beat: float) -> None:
    engine = EngineSettings(retry_timer=retry, heartbeat_interval=heartbeat)
    assert beat_interval(engine) == pytest.approx(beat)


@pytest.mark.parametrize("retry", [1.0, 1.5, 2.0, 3.0, 30.0])
def test_a_blocked_loop_is_noticed_and_beaten_for_before_its_jobs_look_lost(retry: float) -> None:
    engine = EngineSettings(retry_timer=retry)
    # The last beat before the block, the wait until it counts as blocked, and the
    # watchdog's look every quarter of that wait.
    worst = beat_interval(engine) + blocked_after(engine) * 1.25
    assert worst < retry
    assert blocked_after(engine) >= min(1.0, retry / 2)


@pytest.mark.parametrize("retry", [0.0, 1.0, 2.0, 30.0])
def test_retry_timers_a_worker_can_keep_are_accepted(retry: float) -> None:
    check_timing(EngineSettings(retry_timer=retry))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"retry_timer": 0.5}, "--retry-timer 0.5 is too short"),
        ({"retry_timer": -1.0}, "must not be negative"),
        ({"default_max_attempts": 0}, "at least 1"),
    ],
)
def test_timers_a_worker_cannot_keep_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_timing(dataclasses.replace(EngineSettings(), **changes))


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512MB", 512_000_000),
        ("2GiB", 2 * 1024**3),
        ("300m", 300 * 1024**2),
        ("1.5 GB", 1_500_000_000),
        ("64kib", 64 * 1024),
        ("1000000", 1_000_000),
    ],
)
def test_memory_sizes_read_as_bytes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "12 parsecs", "-5MB", "0", "MB"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--max-memory"):
        parse_size(text)


def test_resident_memory_is_this_process_and_grows_with_what_it_holds() -> None:
    before = resident_bytes()
    held = b"\x01" * (64 * 1024**2)
    after = resident_bytes()
    assert before > 1024**2
    assert after - before >= 48 * 1024**2
    del held


def test_the_completion_keeps_the_first_outcome_of_each_job() -> None:
    outcomes = [
        Outcome(1, Status.SUCCESSFUL, 0.1),
        Outcome(2, Status.EXCEPTION, 0.1, "boom", "tb", retry_in=1.0),
        Outcome(1, Status.EXCEPTION, 0.2, "again", "tb"),
        Outcome(2, Status.SUCCESSFUL, 0.3),
    ]
    params = complete_parameters(outcomes, worker=None)  # type: ignore[arg-type]
    assert (params["done_ids"], params["done_statuses"]) == ("{1}", None)
    assert (params["retry_ids"], params["retry_in"]) == ("{2}", "{1.0}")


def test_a_batch_of_plain_successes_sends_ids_and_times_only_and_any_failure_sends_all() -> None:
    plain = complete_parameters(
        [Outcome(7, Status.SUCCESSFUL, 0.25), Outcome(9, Status.SUCCESSFUL, 1e-06)],
        worker=None,  # type: ignore[arg-type]
    )
    assert (plain["done_ids"], plain["done_run_seconds"]) == ("{7,9}", "{0.25,1e-06}")
    assert plain["done_statuses"] is plain["done_errors"] is plain["done_tracebacks"] is None
    mixed = complete_parameters(
        [Outcome(7, Status.SUCCESSFUL, 0.25), Outcome(9, Status.CANCELED, 0.5, "asked", "tb")],
        worker=None,  # type: ignore[arg-type]
    )
    assert mixed["done_statuses"] == ["successful", "canceled"]
    assert (mixed["done_errors"], mixed["done_tracebacks"]) == (["", "asked"], ["", "tb"])
