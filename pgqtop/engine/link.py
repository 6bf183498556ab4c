"""A connection that comes back: reconnects with backoff after the database goes away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg

from pgqtop.config import Settings
from pgqtop.db.connection import connect_async
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.retry import Backoff, wait_for_event
from pgqtop.errors import ConnectionFailed

log = logging.getLogger(__name__)

# What a lost or broken connection raises; anything else is a bug and should surface.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    ConnectionFailed,
    OSError,
)


class Link:
    """One named autocommit connection and its Queries, rebuilt on demand after a failure."""

    def __init__(self, settings: Settings, purpose: str) -> None:
        self.settings = settings
        self.purpose = purpose
        self._queries: WorkerQueries | None = None
        self._lock = asyncio.Lock()
        self._backoff = Backoff()

    @property
    def connected(self) -> bool:
        return self._queries is not None and not self._queries.conn.closed

    async def queries(self) -> WorkerQueries:
        """The live Queries, connecting first if needed; raises CONNECTION_ERRORS on failure."""
        current = self._queries
        if current is not None and not current.conn.closed:
            return current
        async with self._lock:
            if self._queries is None or self._queries.conn.closed:
                conn = await connect_async(self.settings, self.purpose)
                self._queries = WorkerQueries(conn, self.settings.names)
                self._backoff.reset()
            return self._queries

    async def broken(self, exc: BaseException, stop: asyncio.Event | None = None) -> None:
        """Drop the connection after an error and wait a backoff step (cut short by `stop`)."""
        log.debug("%s connection failed: %s", self.purpose, exc)
        await self.close()
        delay = self._backoff.next_delay()
        if stop is None:
            await asyncio.sleep(delay)
            return
        await wait_for_event(stop, delay)

    async def close(self) -> None:
        queries, self._queries = self._queries, None
        if queries is not None:
            conn: psycopg.AsyncConnection[Any] = queries.conn
            # Closing a dead connection may fail; it is gone either way.
            with contextlib.suppress(Exception):
                await conn.close()


# Also statement errors: the worker logs them and retries rather than dying.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, psycopg.Error)
