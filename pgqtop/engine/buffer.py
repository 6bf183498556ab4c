"""The completion buffer: outcomes collect in memory and reach the database in batches.

A flush is one statement (WorkerQueries.complete) whatever the batch size, at most one is in flight,
and a flush that fails keeps its outcomes and tries again: an outcome is never dropped. A job
whose outcome cannot be written for longer than the retry timer is re-taken by another worker,
which is the at-least-once guarantee, and the late write then matches nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.link import DATABASE_ERRORS, ReconnectingConnection
from pgqtop.engine.retry import wait_for_event
from pgqtop.model import Outcome

log = logging.getLogger(__name__)


class CompletionBuffer:
    """Collects outcomes; a background task flushes them by size or after `interval`."""

    def __init__(
        self,
        link: ReconnectingConnection[WorkerQueries],
        worker: uuid.UUID,
        *,
        size: int,
        interval: float,
        on_trouble: Callable[[bool], None] | None = None,
    ) -> None:
        self.link = link
        self.worker = worker
        self.size = max(size, 1)
        self.interval = max(interval, 0.0)
        self._pending: list[Outcome] = []
        self._full = asyncio.Event()
        self._nonempty = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._on_trouble = on_trouble
        self.flushes = 0
        self.written = 0

    def __len__(self) -> int:
        return len(self._pending)

    def job_ids(self) -> list[int]:
        """The jobs whose outcome is not written yet: still held by this worker."""
        return [o.job_id for o in self._pending]

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        if len(self._pending) == 1:
            self._nonempty.set()
        if len(self._pending) >= self.size:
            self._full.set()

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="pgqtop completion buffer")

    async def close(self, limit: float | None = None) -> bool:
        """Flush everything left and stop; returns False if outcomes were still unwritten
        after `limit` seconds (the database stayed away)."""
        self._closing = True
        self._full.set()
        self._nonempty.set()
        task, self._task = self._task, None
        if task is None:
            return not self._pending
        try:
            await asyncio.wait_for(asyncio.shield(task), limit)
        except TimeoutError:
            task.cancel()
            log.warning("%d job outcomes could not be written before stopping", len(self))
            return False
        return True

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._nonempty.clear()
                await self._nonempty.wait()
                continue
            if not self._closing and len(self._pending) < self.size and self.interval > 0:
                # Give the batch `interval` to fill up before writing it.
                self._full.clear()
                await wait_for_event(self._full, self.interval)
            await self._flush_once()

    async def _flush_once(self) -> None:
        batch = self._pending[: self.size * 4]
        try:
            queries = await self.link.queries()
            await queries.complete(batch, self.worker)
        except DATABASE_ERRORS as exc:
            if self._on_trouble:
                self._on_trouble(True)
            log.warning("writing %d job outcomes failed, will retry: %s", len(batch), exc)
            await self.link.broken(exc)
            return
        del self._pending[: len(batch)]
        self.flushes += 1
        self.written += len(batch)
        if self._on_trouble:
            self._on_trouble(False)
