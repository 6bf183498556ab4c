"""Queue history as the console and `pgqtop history` show it: per sample, per entrypoint, how
many jobs were due, scheduled and running, how long the oldest due one had waited, and
whether the entrypoint was paused."""

from __future__ import annotations

import dataclasses
import datetime as dt


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One entrypoint at one sample (or the peak of several, for a coarser view)."""

    due: int = 0
    """Queued jobs whose time had come (`execute_after <= now()`)."""
    scheduled: int = 0
    """Queued jobs waiting for a later time (delayed jobs, retries)."""
    picked: int = 0
    """Jobs a worker was running."""
    oldest_due_seconds: float | None = None
    """How long the oldest due job had waited since it became due; None with none due."""
    paused: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class HistorySample:
    """The queue at one moment: every entrypoint the sample counted (jobs waiting or running,
    or paused); an entrypoint missing from it had nothing waiting or running."""

    at: dt.datetime
    entrypoints: dict[str, HistoryPoint]
    paused_all: bool = False
    """Every entrypoint was paused (`pause --all`)."""

    def total(self) -> HistoryPoint:
        """The entrypoints together: counts summed, the longest wait, paused when everything
        shown was."""
        points = list(self.entrypoints.values())
        waits = [p.oldest_due_seconds for p in points if p.oldest_due_seconds is not None]
        return HistoryPoint(
            due=sum(p.due for p in points),
            scheduled=sum(p.scheduled for p in points),
            picked=sum(p.picked for p in points),
            oldest_due_seconds=max(waits) if waits else None,
            paused=self.paused_all or (bool(points) and all(p.paused for p in points)),
        )
