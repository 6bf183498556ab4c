"""Feeds the console state from the database without ever blocking the event loop.

Three connections, each with one job, so a slow query never delays the others: a LISTEN
connection that folds NOTIFY events into the counts as they arrive, a reconciliation connection
for the full GROUP BY (rescheduled after max(refresh, 100 x its own duration), never overlapping),
and a main connection for the cheap polls (statistics every 1.5 s; workers, failures and pauses
every few seconds) and for operator actions. Any failure drops all three and reconnects with
backoff while the header counts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from pgqtop.config import Settings
from pgqtop.db.connection import connect_async
from pgqtop.db.console import ConsoleQueries
from pgqtop.errors import PgqtopError
from pgqtop.model import EventParseError, first_line, parse_event
from pgqtop.tui.state import ConsoleState

log = logging.getLogger(__name__)

T = TypeVar("T")

STATS_INTERVAL = 1.5
SLOW_POLL_INTERVAL = 4.0
DEFAULT_RECONCILE = 5.0
# NOTIFY deltas keep the counts live between reconciliations, so the full count only corrects
# drift: at most 1% of the time goes to it, whatever the size of the table.
RECONCILE_COST_FACTOR = 100.0
QUERY_TIMEOUT = 10.0
RECONCILE_TIMEOUT = 60.0
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0)
FAILURE_WINDOW = 3600.0
FAILURE_ROWS = 100


class Watcher:
    """Owns the console's connections and keeps `state` current while `run` is awaited."""

    def __init__(
        self,
        settings: Settings,
        state: ConsoleState,
        *,
        refresh: float | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.refresh = refresh
        self.queries: ConsoleQueries | None = None
        """Main-connection queries for operator actions; None while disconnected."""
        self._wake_stats = asyncio.Event()
        self._wake_slow = asyncio.Event()

    def poke(self) -> None:
        """Poll now (after an action, or a chart window change) instead of at the next tick."""
        self._wake_stats.set()
        self._wake_slow.set()

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            connected = await self._session(stop)
            if stop.is_set():
                return
            attempt = 0 if connected else attempt + 1
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            self.state.set_connection("reconnecting", retry_in=delay, error=self.state.last_error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event) -> bool:
        """One connected stretch; returns whether it got as far as connecting."""
        connections: list[psycopg.AsyncConnection[Any]] = []
        connected = False
        try:
            for purpose in ("console listen", "console reconcile", "console"):
                conn = await asyncio.wait_for(
                    connect_async(self.settings, purpose), QUERY_TIMEOUT + 1
                )
                connections.append(conn)
            listen_conn, reconcile_conn, main_conn = connections
            names, limit = self.settings.names, self.settings.max_payload_bytes
            main = ConsoleQueries(main_conn, names, limit)
            version = await self._timed(main.server_version())
            self.state.server_version = version.split(" ")[0]
            await listen_conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(names.channel)))
            connected = True
            self.queries = main
            self.state.set_connection("connected")
            await self._poll_slow(main)
            tasks = [
                self._listen(listen_conn),
                self._reconcile(ConsoleQueries(reconcile_conn, names, limit)),
                self._stats_loop(main),
                self._slow_loop(main),
            ]
            await _until_first_exit(tasks, stop)
        except (PgqtopError, psycopg.Error, OSError, TimeoutError) as exc:
            if isinstance(exc, TimeoutError):
                self.state.last_error = "database did not answer in time"
            else:
                self.state.last_error = first_line(exc, self.settings.dsn)
            log.warning("console connection lost: %s", self.state.last_error)
        finally:
            self.queries = None
            for conn in connections:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
        return connected

    async def _timed(self, work: Awaitable[T], limit: float = QUERY_TIMEOUT) -> T:
        return await asyncio.wait_for(work, limit)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async for notify in conn.notifies():
            try:
                event = parse_event(notify.payload)
            except EventParseError as exc:
                log.debug("ignored a foreign notification: %s", exc)
                continue
            self.state.apply_event(event)
            if event.op in ("pause", "resume"):
                self._wake_slow.set()

    async def _reconcile(self, queries: ConsoleQueries) -> None:
        while True:
            started = time.monotonic()
            counts = await self._timed(queries.queue_counts(), RECONCILE_TIMEOUT)
            took = time.monotonic() - started
            self.state.apply_counts(counts, took)
            await asyncio.sleep(
                max(self.refresh or DEFAULT_RECONCILE, RECONCILE_COST_FACTOR * took)
            )

    async def _stats_loop(self, queries: ConsoleQueries) -> None:
        while True:
            window = self.state.chart_window
            outcomes = await self._timed(queries.recent_outcomes(60.0))
            series = await self._timed(queries.statistics_series(window.seconds, window.bucket))
            self.state.apply_outcomes(outcomes)
            self.state.apply_series(series)
            self.state.sample_trend()
            await _sleep_or_wake(self._wake_stats, STATS_INTERVAL)

    async def _slow_loop(self, queries: ConsoleQueries) -> None:
        while True:
            await _sleep_or_wake(self._wake_slow, SLOW_POLL_INTERVAL)
            await self._poll_slow(queries)

    async def _poll_slow(self, queries: ConsoleQueries) -> None:
        workers = await self._timed(queries.workers())
        failures = await self._timed(queries.recent_failures(FAILURE_ROWS))
        failed = await self._timed(queries.failures_since(FAILURE_WINDOW))
        paused = await self._timed(queries.paused())
        schedules = await self._timed(queries.schedules())
        self.state.apply_workers(workers)
        self.state.apply_schedules(schedules)
        self.state.apply_failures(failures)
        self.state.apply_failure_counts(failed)
        self.state.apply_paused(paused)


async def _sleep_or_wake(wake: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)
    wake.clear()


async def _until_first_exit(loops: Sequence[Awaitable[None]], stop: asyncio.Event) -> None:
    """Run the loops until one fails (its error propagates) or stop is set."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper:
                task.result()
                raise psycopg.OperationalError("the notification stream ended")
    finally:
        for task in [*tasks, stopper]:
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
