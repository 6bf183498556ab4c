"""How the retry timer, the heartbeat and the blocked-loop watchdog fit together.

A picked job whose heartbeat is older than the retry timer is re-taken by another worker. So a
healthy worker must beat its jobs well inside that timer: it beats at least three times per
retry timer (and at most every `heartbeat_interval`), so two beats may be late before a job
looks lost. A retry timer too short to allow that is refused rather than left to make healthy
workers re-take each other's jobs.
"""

from __future__ import annotations

from pgqtop.config import EngineSettings
from pgqtop.errors import UsageError

BEATS_PER_RETRY_TIMER = 3
MIN_RETRY_TIMER = 1.0
"""Seconds; below this a heartbeat would have a third of a second or less to come round."""
STALL_SCAN_EVERY = 5.0
"""At most this many seconds between looks for stalled jobs (fewer with a short timer)."""


def beat_interval(engine: EngineSettings) -> float:
    """Seconds between heartbeats: `heartbeat_interval`, shortened to a third of the retry
    timer when that is shorter."""
    if engine.retry_timer > 0:
        return min(engine.heartbeat_interval, engine.retry_timer / BEATS_PER_RETRY_TIMER)
    return engine.heartbeat_interval


def blocked_after(engine: EngineSettings) -> float:
    """Seconds without a tick after which the event loop counts as blocked (watchdog.py).

    At least a heartbeat interval, and a second where the retry timer allows it, so a loop
    that is merely busy for a moment is not reported; at most half the retry timer, so that
    the last beat before the block, this wait and the watchdog's own look (a quarter of it)
    add up to less than the retry timer: the jobs are beaten before they look lost."""
    beat = beat_interval(engine)
    if engine.retry_timer > 0:
        return max(beat, min(1.0, engine.retry_timer / 2))
    return max(beat, 1.0)


def stall_scan_interval(engine: EngineSettings) -> float:
    """Seconds between looks for stalled jobs: a job only stalls after the retry timer, so a
    few looks per timer are enough."""
    return min(engine.retry_timer / 4, STALL_SCAN_EVERY)


def check_timing(engine: EngineSettings) -> None:
    """Refuse timer settings a worker cannot keep, with one line naming the option."""
    retry = engine.retry_timer
    if retry < 0:
        raise UsageError("--retry-timer must not be negative")
    if 0 < retry < MIN_RETRY_TIMER:
        raise UsageError(
            f"--retry-timer {retry:g} is too short: workers beat {BEATS_PER_RETRY_TIMER} times "
            f"per retry timer, so it must be at least {MIN_RETRY_TIMER:g} second "
            "(or 0, never re-take)"
        )
    if engine.heartbeat_interval <= 0:
        raise UsageError("the heartbeat interval must be positive")
    if engine.default_max_attempts < 1:
        raise UsageError("default_max_attempts must be at least 1")
