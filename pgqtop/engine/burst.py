"""Burst mode: take every job that is due now, run it, flush, and stop (a drain for cron or
CI), and the exit code that tells a caller how it went.

What a burst takes: every queued job of its entrypoints due when it looks, looking again after
each job ends, so jobs that handlers enqueue (due now) and retries whose delay ends while other
jobs still run are taken too. It stops at the first look, made after every outcome is written,
that finds nothing due: scheduled jobs and retries due later are left for later. Paused
entrypoints are obeyed; their due jobs are counted when it stops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

BURST_OK = 0
"""Everything due was run and nothing ended as a final failure (or failures do not count)."""
BURST_FAILED = 1
"""At least one job ended as a final failure (failed or timed out, its retries used up)."""
BURST_PAUSED = 5
"""Due jobs were left because their entrypoints are paused (and no failure counted)."""

EXIT_CODES: dict[int, str] = {
    BURST_OK: "every job due ran, none ended as a final failure",
    BURST_FAILED: "a job ended as a final failure (unless --no-burst-fail-exit)",
    BURST_PAUSED: "due jobs were left because their entrypoints are paused",
}

OnEmpty = Callable[[], Awaitable[bool]]
"""Called when a burst finds nothing due; True means it made more work due: look again."""


@dataclasses.dataclass(slots=True)
class BurstWatch:
    """What the engine tracks while a burst runs."""

    on_empty: OnEmpty | None = None
    settled: bool = False
    """The last look was made with nothing running and every outcome written."""
    taken_when_settled: int = 0
    retrying: set[int] = dataclasses.field(default_factory=set)
    """Jobs whose latest attempt in this burst ended in a retry."""


@dataclasses.dataclass(frozen=True, slots=True)
class BurstResult:
    """How a burst went: attempts by outcome, and what it left."""

    taken: int
    succeeded: int
    failed: int
    """Attempts that ended their job as failed (final: no retry left, or none allowed)."""
    retried: int
    """Attempts that failed and were put back for another try."""
    canceled: int
    retries_waiting: int
    """Jobs put back for a retry that was not due before the burst stopped."""
    paused_left: dict[str, int]
    """Due jobs left per paused entrypoint."""
    interrupted: bool = False
    """Stopped by stop() (a signal) before it found nothing due."""

    def exit_code(self, *, fail_on_failure: bool = True) -> int:
        """0 when it drained cleanly, 1 when a job ended as a final failure (if those count),
        5 when due jobs of paused entrypoints were left."""
        if fail_on_failure and self.failed:
            return BURST_FAILED
        if self.paused_left:
            return BURST_PAUSED
        return BURST_OK

    def summary(self) -> str:
        """One line for a log: what ran and how it ended."""
        parts = [f"{self.succeeded} succeeded", f"{self.failed} failed"]
        if self.retried:
            parts.append(f"{self.retried} retried")
        if self.canceled:
            parts.append(f"{self.canceled} canceled")
        line = f"burst {'stopped' if self.interrupted else 'done'}: {self.taken} taken, "
        line += ", ".join(parts)
        if self.retries_waiting:
            line += f"; {self.retries_waiting} retries due later left waiting"
        return line

    def paused_message(self) -> str:
        """Which paused entrypoints held back how many due jobs; empty when none."""
        if not self.paused_left:
            return ""
        total = sum(self.paused_left.values())
        held = ", ".join(f"{name} ({count})" for name, count in sorted(self.paused_left.items()))
        return f"{total} due jobs left because their entrypoints are paused: {held}"
