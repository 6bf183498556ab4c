"""WakeGate: a worker whose last look found nothing notes new work for a moment instead of
running to the jobs table with the whole fleet."""

from __future__ import annotations

import time

import pytest

from pgqtop.engine import herd
from pgqtop.engine.herd import WakeGate


def test_a_worker_that_found_jobs_looks_at_every_notification() -> None:
    gate = WakeGate()
    assert gate.notified(5)
    gate.looked(5)
    assert gate.notified(1) and not gate.deferred


def test_after_an_empty_look_new_work_waits_for_the_quiet_time_then_only_if_still_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    monkeypatch.setattr(herd.random, "uniform", lambda a, b: 1.0)
    gate = WakeGate()
    gate.looked(0)
    assert not gate.notified(50), "quiet: noted, not woken"
    assert gate.deferred and gate.seconds_to_look() == pytest.approx(herd.QUIET_MIN)
    gate.notified(-50)  # another worker's dequeue took them
    now[0] += herd.QUIET_MIN
    assert gate.seconds_to_look() == 0.0
    assert not gate.worth_looking(), "nothing left: no look"
    assert not gate.deferred

    gate.looked(0)  # a second empty look: twice as quiet
    assert not gate.notified(50)
    assert gate.seconds_to_look() == pytest.approx(2 * herd.QUIET_MIN)
    gate.notified(-20)
    now[0] += 2 * herd.QUIET_MIN
    assert gate.worth_looking(), "30 still waiting: look"


def test_the_quiet_time_is_capped_and_an_idle_fleet_reacts_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    monkeypatch.setattr(herd.random, "uniform", lambda a, b: 1.0)
    gate = WakeGate()
    for _ in range(20):
        gate.looked(0)
    assert not gate.notified(1)
    assert gate.seconds_to_look() == pytest.approx(herd.QUIET_MAX)
    now[0] += 5.0  # an idle worker: its quiet time ended long ago
    gate.worth_looking()
    assert gate.notified(1)
