"""Keeping a large fleet from stampeding on every NOTIFY.

Every enqueue statement notifies every listening worker. Were each of them to dequeue at once,
a hundred workers would run a hundred dequeues per statement, one of which takes the jobs: the
database's work per job would grow with the fleet. So a worker whose last look found nothing
backs off: a notification during its quiet time (a few milliseconds, doubling up to QUIET_MAX)
is only noted, and when the quiet time ends it looks only if the notifications since then still
show jobs waiting (the dequeues of the other workers announce the jobs they took as negative
`queued` deltas on the same channel). A worker that finds jobs looks again at once, so a busy
worker drains at full speed while idle ones stay out of its way; a fleet that was idle reacts
to the first job without delay.
"""

from __future__ import annotations

import random
import time

QUIET_MIN = 0.01
"""Seconds a worker stays quiet after one look that found nothing."""
QUIET_MAX = 0.25
"""The longest quiet time: the most a job can wait for a worker while every worker backs off."""


class WakeGate:
    """Decides, per notification of new work, whether this worker looks now or later."""

    def __init__(self) -> None:
        self._empty_looks = 0
        self._quiet_until = 0.0
        self.deferred = False
        """A notification of new work arrived while quiet; look when the quiet time ends."""
        self._waiting = 0
        """The `queued` deltas of our entrypoints since the first deferred notification."""

    def looked(self, found: int) -> None:
        """After a dequeue: found jobs, keep looking at once; found none, stay quiet longer."""
        self.deferred = False
        if found:
            self._empty_looks = 0
            self._quiet_until = 0.0
            return
        self._empty_looks += 1
        quiet = min(QUIET_MIN * 2 ** (self._empty_looks - 1), QUIET_MAX)
        self._quiet_until = time.monotonic() + quiet * random.uniform(0.5, 1.0)

    def notified(self, queued: int) -> bool:
        """A notification changed our entrypoints' waiting jobs by `queued`; True: look now."""
        if queued <= 0:
            if self.deferred:
                self._waiting += queued
            return False
        if time.monotonic() >= self._quiet_until:
            return True
        if not self.deferred:
            self.deferred = True
            self._waiting = 0
        self._waiting += queued
        return False

    def seconds_to_look(self) -> float | None:
        """Seconds until a deferred look is due; None when none is deferred."""
        if not self.deferred:
            return None
        return max(self._quiet_until - time.monotonic(), 0.0)

    def worth_looking(self) -> bool:
        """At the end of the quiet time: are jobs still waiting, by the notifications since?
        Ends the deferral either way."""
        self.deferred = False
        return self._waiting > 0
