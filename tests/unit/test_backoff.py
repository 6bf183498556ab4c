"""Waiting before trying again: reconnect backoff with jitter, job retry delays, and the waits
that a stop or a reconnection cuts short."""

from __future__ import annotations

import asyncio
import time

import pytest

from pgqtop.engine.retry import Backoff, RetryPolicy, wait_for_any, wait_for_event


def test_backoff_doubles_up_to_its_ceiling_with_jitter_below_each_step() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0)
    steps = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    for step in steps:
        delay = backoff.next_delay()
        # Jitter only shortens a step, and never below half of it.
        assert step * 0.5 <= delay <= step


def test_reset_starts_the_backoff_over() -> None:
    backoff = Backoff(initial=0.1, maximum=10.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_jitter_spreads_processes_that_failed_together() -> None:
    delays = {Backoff(initial=1.0).next_delay() for _ in range(20)}
    assert len(delays) > 1


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_attempts": 0},
        {"backoff": 0.5},
        {"initial_delay": -1.0},
        {"max_delay": -1.0},
    ],
)
def test_a_retry_policy_that_cannot_work_is_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**arguments)  # type: ignore[arg-type]


def test_a_single_attempt_policy_never_retries() -> None:
    assert RetryPolicy(max_attempts=1).delay(1) is None


async def test_waiting_for_an_event_ends_when_it_is_set_or_at_the_limit() -> None:
    event = asyncio.Event()
    assert await wait_for_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    started = time.monotonic()
    assert await wait_for_event(event, 30) is True
    assert time.monotonic() - started < 10, "the event, not the limit, ended the wait"


async def test_waiting_for_any_event_ends_at_the_first_one_set() -> None:
    stop, back = asyncio.Event(), asyncio.Event()
    assert await wait_for_any([stop, back], 0.01) is False
    asyncio.get_running_loop().call_later(0.01, back.set)
    started = time.monotonic()
    assert await wait_for_any([stop, back], 30) is True
    assert time.monotonic() - started < 10, "the event, not the limit, ended the wait"
    assert await wait_for_any([stop, back], 30) is True, "an event already set ends it at once"
    assert not stop.is_set()


async def test_waiting_for_any_leaves_no_waiter_behind() -> None:
    events = [asyncio.Event() for _ in range(3)]
    before = len(asyncio.all_tasks())
    await wait_for_any(events, 0.01)
    assert len(asyncio.all_tasks()) == before
