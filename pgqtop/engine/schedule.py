"""Scheduled entrypoints: a cron expression (UTC) or a fixed interval per entrypoint.

Each run becomes an ordinary job, enqueued exactly once across the fleet: every worker that
declares the schedule watches the same row, and the one that moves its `next_run` on enqueues
the job in that same statement (WorkerQueries.claim_schedules). No advisory locks, no leader.
Cron expressions are parsed by cronsim (small, typed, no dependencies).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Callable

import psycopg
from cronsim import CronSim, CronSimError

from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.link import CONNECTION_ERRORS, ReconnectingConnection
from pgqtop.engine.retry import wait_for_event
from pgqtop.errors import UsageError
from pgqtop.model import first_line

log = logging.getLogger(__name__)

_EVERY = re.compile(r"@every\s+(\d+(?:\.\d+)?)\s*(s|m|h)?", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""The usual cron shorthands; the shorthand is what is stored and shown."""
_RACE_PAUSE = 0.05
"""After a claim that won nothing (another worker holds the row for a moment), look again
this much later rather than at once."""


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    """When an entrypoint runs: `interval` seconds apart, or else by the cron `expression`."""

    expression: str
    interval: float | None = None

    def after(self, moment: dt.datetime) -> dt.datetime:
        """The first run strictly after `moment`."""
        if self.interval is not None:
            return moment + dt.timedelta(seconds=self.interval)
        return next(CronSim(MACROS.get(self.expression, self.expression), moment))

    def next_run(self, expected: dt.datetime, now: dt.datetime) -> dt.datetime:
        """The run that follows `expected`. Runs missed while no worker was up are skipped,
        not replayed: a scheduled job means "do this now", not a backlog to work off."""
        following = self.after(expected)
        return following if following > now else self.after(now)


def parse_schedule(value: str | float) -> Schedule:
    """A cron expression ("*/5 * * * *") or shorthand ("@daily"), "@every 30s" / "@every 5m" /
    "@every 1h", or a number of seconds; bad input is a UsageError that names it."""
    if isinstance(value, bool):
        raise UsageError(f"invalid schedule {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise UsageError(f"invalid schedule {value!r}: an interval must be positive")
        return Schedule(f"@every {value:g}s", float(value))
    text = " ".join(value.split())
    every = _EVERY.fullmatch(text)
    if every is not None:
        seconds = float(every[1]) * _UNIT_SECONDS[(every[2] or "s").lower()]
        if seconds <= 0:
            raise UsageError(f"invalid schedule {value!r}: an interval must be positive")
        return Schedule(f"@every {seconds:g}s", seconds)
    if text.lower() in MACROS:
        return Schedule(text.lower())
    try:
        CronSim(text, dt.datetime.now(dt.UTC))
    except (CronSimError, ValueError) as exc:
        raise UsageError(f"invalid schedule {value!r}: {exc}") from None
    return Schedule(text)


class Scheduler:
    """One worker's part in running its scheduled entrypoints: declare them once, then sleep
    until the earliest run is due and try to take it. Another worker taking it is normal."""

    def __init__(
        self,
        link: ReconnectingConnection[WorkerQueries],
        schedules: dict[str, Schedule],
        on_enqueued: Callable[[str, int], None] | None = None,
        *,
        max_sleep: float = 15.0,
    ) -> None:
        self.link = link
        self.schedules = schedules
        self.on_enqueued = on_enqueued
        self.max_sleep = max_sleep
        """Look at the table at least this often: a redeploy may change a timetable."""

    async def run(self, halt: asyncio.Event) -> None:
        registered = False
        names = sorted(self.schedules)
        while not halt.is_set():
            try:
                queries = await self.link.queries()
                if not registered:
                    now = dt.datetime.now(dt.UTC)
                    await queries.register_schedules(
                        {n: s.expression for n, s in self.schedules.items()},
                        {n: s.after(now) for n, s in self.schedules.items()},
                    )
                    registered = True
                rows = await queries.schedules(names)
                due = [r for r in rows if r.due_in_seconds <= 0]
                wait = min([r.due_in_seconds for r in rows] + [self.max_sleep])
                if due:
                    runs = [
                        (
                            r.entrypoint,
                            r.next_run,
                            self.schedules[r.entrypoint].next_run(r.next_run, r.read_at),
                        )
                        for r in due
                    ]
                    won = await queries.claim_schedules(runs)
                    for entrypoint, job_id in won:
                        if job_id is None:
                            log.info(
                                "scheduled run of %s skipped: the last one is still waiting"
                                " or running",
                                entrypoint,
                            )
                            continue
                        log.info("scheduled run of %s enqueued as job %d", entrypoint, job_id)
                        if self.on_enqueued is not None:
                            self.on_enqueued(entrypoint, job_id)
                    wait = 0.0 if won else _RACE_PAUSE
            except CONNECTION_ERRORS as exc:
                log.warning("schedules: %s", exc)
                await self.link.broken(exc, halt)
                continue
            except psycopg.Error as exc:
                # A refused statement (a grant from before schedules, say): the connection is
                # shared with completions and still fine, so leave it and try again later.
                log.warning("schedules: %s", first_line(exc))
                await wait_for_event(halt, self.max_sleep)
                continue
            await wait_for_event(halt, max(wait, 0.0) + 0.005)
