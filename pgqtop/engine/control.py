"""Fleet awareness: this worker's row in the registry, its heartbeats, and what is paused.

Pauses are enforced by the dequeue statement itself; the worker only tracks them to log the
change and to wake up when a timed pause runs out (no NOTIFY announces that moment).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence

import psycopg

from pgqtop.config import Settings
from pgqtop.db.rows import Beat, HistoryClaim, PauseInfo, WorkerIdentity, WorkerReport
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.link import DATABASE_ERRORS, ReconnectingConnection
from pgqtop.engine.retention import FinishedPruner
from pgqtop.engine.retry import wait_for_event
from pgqtop.engine.timing import beat_interval, stall_scan_interval
from pgqtop.model import ALL_ENTRYPOINTS, first_line, target_label

log = logging.getLogger(__name__)

PRUNE_EVERY = (120.0, 300.0)
"""Seconds between retention prunes, drawn at random so a fleet does not prune in step."""
VACUUM_CHECK_EVERY = (20.0, 40.0)
"""Seconds between checks whether the jobs table needs the vacuum autovacuum is not doing."""
HISTORY_COST_SHARE = 0.02
"""At most this share of the time goes to counting queue history: a sample that took 0.3 s
keeps the fleet from taking the next for 15 s (the interval is the least)."""


class PauseState:
    """The pauses that concern our entrypoints, and when the earliest timed one ends."""

    def __init__(self) -> None:
        self.paused: dict[str, PauseInfo] = {}
        self._ends_at: float | None = None

    def update(self, infos: Sequence[PauseInfo], ours: Collection[str]) -> None:
        now = time.monotonic()
        current = {
            i.entrypoint: i
            for i in infos
            if i.entrypoint in ours or i.entrypoint == ALL_ENTRYPOINTS
        }
        for name in sorted(current.keys() - self.paused.keys()):
            info = current[name]
            what = target_label(name)
            until = (
                f" for {info.remaining_seconds:.0f}s" if info.remaining_seconds is not None else ""
            )
            why = f" ({info.reason})" if info.reason else ""
            log.info("paused %s%s%s", what, until, why)
        for name in sorted(self.paused.keys() - current.keys()):
            log.info("resumed %s", target_label(name))
        self.paused = current
        remaining = [i.remaining_seconds for i in current.values() if i.remaining_seconds]
        self._ends_at = now + max(min(remaining), 0.0) if remaining else None

    def seconds_to_change(self) -> float | None:
        """Seconds until the nearest timed pause of ours ends; None when none is timed."""
        if self._ends_at is None:
            return None
        return max(self._ends_at - time.monotonic(), 0.0)


class HistorySampler:
    """This worker's tries at the fleet's queue-history samples: one per slot of the interval
    grid, made from the heartbeat loop. The database decides which try of the fleet takes the
    slot (see WorkerQueries.sample_history); no worker leads."""

    def __init__(self, settings: Settings) -> None:
        self.interval = settings.history_interval
        self.retention_seconds = settings.history_retention_hours * 3600.0
        self._next_try = 0.0

    async def maybe_sample(self, queries: WorkerQueries, worker: uuid.UUID) -> HistoryClaim | None:
        """Try the current slot unless this worker already tried it; None when it did."""
        if self.interval <= 0:
            return None
        now = time.time()
        if now < self._next_try:
            return None
        self._next_try = (now // self.interval + 1) * self.interval
        started = time.monotonic()
        try:
            claim = await queries.sample_history(
                worker,
                interval=self.interval,
                retention_seconds=self.retention_seconds,
                cost_factor=1.0 / HISTORY_COST_SHARE,
            )
        except psycopg.errors.InsufficientPrivilege:
            # A role granted before the history tables existed: the worker works on, without
            # sampling (other workers may), rather than fail every heartbeat.
            log.warning(
                "not sampling queue history: this role may not write the history tables "
                "(apply `pgqtop grants --for worker` again)"
            )
            self.interval = 0.0
            return None
        if claim.slot is not None:
            await queries.record_sample_cost(claim.slot, time.monotonic() - started)
            log.debug("sampled queue history: %d entrypoints", claim.entrypoints)
        return claim


class Heartbeat:
    """Registers the worker, keeps it and its running jobs alive, hands on the cancel requests
    of the jobs it holds, gives up jobs whose workers keep disappearing, and prunes now and
    then."""

    def __init__(
        self,
        link: ReconnectingConnection[WorkerQueries],
        settings: Settings,
        identity: Callable[[], WorkerIdentity],
        report: Callable[[], WorkerReport],
        on_beat: Callable[[Beat, WorkerReport], None] | None = None,
        max_attempts: Mapping[str, int] | None = None,
        held: Callable[[], Sequence[int]] = tuple,
    ) -> None:
        self.link = link
        self.settings = settings
        self.identity = identity
        self.report = report
        self.on_beat = on_beat
        self.max_attempts = dict(max_attempts or {})
        self.held = held
        self.beats = 0
        self.history = HistorySampler(settings)
        self._poke = asyncio.Event()
        self.finished = FinishedPruner(settings, link)
        self._processed = 0

    def poke(self) -> None:
        """Beat now rather than at the next interval (the state changed, a cancel may have
        been asked for, or we stop)."""
        self._poke.set()

    async def beat(self) -> None:
        """One heartbeat: jobs in flight and the registry row in one statement."""
        # A poke from now on asks for another beat: this one may not see what it announces.
        self._poke.clear()
        report = self.report()
        queries = await self.link.queries()
        found = await queries.beat(self.identity(), report)
        self.beats += 1
        self._processed = report.processed
        if self.on_beat is not None:
            self.on_beat(found, report)

    async def give_up_lost(self) -> None:
        """Finish the jobs of our entrypoints that were taken as often as they may be and
        whose worker disappeared again: they would only take the next worker down with them."""
        retry = self.settings.engine.retry_timer
        if retry <= 0 or not self.max_attempts:
            return
        queries = await self.link.queries()
        worker = self.identity().id
        try:
            given_up = await queries.give_up_lost(self.max_attempts, worker, retry, self.held())
        except psycopg.Error as exc:
            if queries.conn.closed or queries.conn.broken:
                raise  # the connection's trouble: the heartbeat loop reconnects
            # The statement's own trouble (a grant missing, say) must not stop the heartbeats.
            log.warning("could not give up lost jobs: %s", first_line(exc, typed=True))
            return
        for lost in given_up:
            log.warning("job %d (%s) given up: %s", lost.id, lost.entrypoint, lost.error)

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop`, at least three times per retry timer; connection trouble only
        delays a beat."""
        interval = beat_interval(self.settings.engine)
        next_prune = time.monotonic() + random.uniform(*PRUNE_EVERY)
        next_vacuum = time.monotonic() + random.uniform(*VACUUM_CHECK_EVERY)
        next_reap = time.monotonic()
        vacuum: asyncio.Task[None] | None = None
        while not stop.is_set():
            try:
                await self.beat()
                await self.history.maybe_sample(await self.link.queries(), self.identity().id)
                if time.monotonic() >= next_reap:
                    next_reap = time.monotonic() + stall_scan_interval(self.settings.engine)
                    await self.give_up_lost()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + random.uniform(*PRUNE_EVERY)
                    await self.prune()
                if time.monotonic() >= next_vacuum and (vacuum is None or vacuum.done()):
                    next_vacuum = time.monotonic() + random.uniform(*VACUUM_CHECK_EVERY)
                    vacuum = asyncio.create_task(self.vacuum_if_needed())
                self.finished.start_if_due(self._processed)
            except DATABASE_ERRORS as exc:
                log.warning("heartbeat failed, will retry: %s", exc)
                await self.link.broken(exc, stop)
                continue
            if not stop.is_set():
                await wait_for_event(self._poke, interval)

        if vacuum is not None:
            vacuum.cancel()
        self.finished.cancel()

    async def vacuum_if_needed(self) -> None:
        """Vacuum the jobs table when autovacuum is off and it needs it, in the background on
        the worker's one connection: flushes wait for a vacuum of the jobs table (it only runs
        where autovacuum is off), but no second connection is ever needed."""
        try:
            queries = await self.link.queries()
            if await queries.vacuum_jobs_if_needed():
                log.info("vacuumed %s (autovacuum is off)", self.settings.names.jobs)
        except DATABASE_ERRORS as exc:
            log.debug("vacuum check failed: %s", exc)

    async def prune(self) -> None:
        queries = await self.link.queries()
        days = 86400.0
        failures, statistics, pauses, workers = await queries.prune(
            self.settings.failure_retention_days * days,
            self.settings.failure_retention_rows,
            self.settings.statistics_retention_days * days,
        )
        if failures or statistics or pauses or workers:
            log.debug(
                "pruned %d failures, %d statistics rows, %d expired pauses, %d gone workers",
                failures,
                statistics,
                pauses,
                workers,
            )

    async def deregister(self) -> None:
        """Remove our registry row; a failure here only leaves a row that turns stale."""
        try:
            queries = await self.link.queries()
            await queries.deregister(self.identity().id)
        except DATABASE_ERRORS as exc:
            log.warning("could not remove this worker from the registry: %s", exc)
