"""The finished jobs' retention: drop what is older than Settings.keep_finished_seconds, and
what lies more than keep_finished_rows job ids back.

Deleting a row costs about what writing it did, so the prune must neither stall this worker's
completions nor fall behind a fast queue. It therefore runs in the background in bounded
chunks, each its own statement on the worker's one connection (flushes and dequeues take their
turn between two chunks, and a pooled worker needs no second connection), every few minutes and also
whenever this worker has finished a tenth of keep_finished_rows jobs since its last prune: the
table stays near its limit however fast the fleet drains. A worker that keeps no finished jobs
leaves the table to the workers that do.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import psycopg

from pgqtop.config import Settings
from pgqtop.db.connection import connect_async
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.link import DATABASE_ERRORS, ReconnectingConnection

log = logging.getLogger(__name__)

PRUNE_EVERY = (120.0, 300.0)
"""Seconds between prunes on a quiet worker, drawn at random so a fleet does not prune in step."""
CHUNK_ROWS = 50_000
"""Rows one delete statement removes at most: a fraction of a second each."""
MIN_VOLUME = 1_000
"""However small keep_finished_rows is, a worker prunes by volume at most every this many jobs."""


class FinishedPruner:
    """Decides when this worker prunes the finished jobs, and prunes them in the background."""

    def __init__(
        self, settings: Settings, link: ReconnectingConnection[WorkerQueries] | None = None
    ) -> None:
        self.settings = settings
        self.link = link
        """The worker's connection; without one, each prune opens a short one of its own."""
        self.pruned = 0
        """Rows this worker's prunes removed, in all."""
        self._next_at = time.monotonic() + random.uniform(*PRUNE_EVERY)
        self._processed_at_last = 0
        self._task: asyncio.Task[int] | None = None

    @property
    def volume(self) -> int:
        """Jobs this worker may finish between two prunes, whatever the clock says."""
        return max(self.settings.keep_finished_rows // 10, MIN_VOLUME)

    def due(self, processed: int, now: float | None = None) -> bool:
        """Whether to prune now, given how many jobs this worker has finished in all."""
        if self.settings.keep_finished_seconds <= 0:
            return False
        if self._task is not None and not self._task.done():
            return False
        moment = time.monotonic() if now is None else now
        return moment >= self._next_at or processed - self._processed_at_last >= self.volume

    def start_if_due(self, processed: int) -> bool:
        """Start a background prune when one is due; True if it started one."""
        if not self.due(processed):
            return False
        self._processed_at_last = processed
        self._next_at = time.monotonic() + random.uniform(*PRUNE_EVERY)
        self._task = asyncio.create_task(self.prune(), name="pgqtop finished prune")
        return True

    async def prune(self) -> int:
        """Delete what is past the retention, chunk by chunk; how many rows went."""
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            if self.link is not None:
                queries = await self.link.queries()
            else:
                conn = await connect_async(self.settings, "maintenance")
                queries = WorkerQueries(conn, self.settings.names)
        except DATABASE_ERRORS as exc:
            log.debug("finished jobs' prune skipped: %s", exc)
            return 0
        gone = 0
        try:
            while True:
                removed = await queries.prune_finished(
                    self.settings.keep_finished_seconds,
                    self.settings.keep_finished_rows,
                    CHUNK_ROWS,
                )
                gone += removed
                if removed < CHUNK_ROWS:
                    break
        except DATABASE_ERRORS as exc:
            log.debug("finished jobs' prune failed: %s", exc)
        finally:
            if conn is not None:
                await conn.close()
        self.pruned += gone
        if gone:
            log.debug("pruned %d finished jobs", gone)
        return gone

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
