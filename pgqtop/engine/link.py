"""A connection that comes back: the one reconnect policy of the engine and the console.

Every long-lived connection pgqtop holds (a worker's dequeue and completion connections, the
LISTEN connection, the console's reconciliation and poll connections) is a
ReconnectingConnection. A user that hits an error reports it with `broken()`: the connection is
dropped and the user waits a backoff step before trying again, cut short when another user of
the same connection has already brought it back. The backoff only starts over once a
connection has stayed up for a while, so a statement that fails at once on every fresh
connection backs off instead of reconnecting in a tight loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import psycopg

from pgqtop.config import ObjectNames, Settings
from pgqtop.db.connection import connect_async
from pgqtop.db.session import AsyncSession
from pgqtop.engine.retry import Backoff, wait_for_any
from pgqtop.errors import ConnectionFailed
from pgqtop.model import first_line

log = logging.getLogger(__name__)

# What a lost or broken connection raises; anything else is a bug and should surface.
# (TimeoutError, a query that took too long, is an OSError.)
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    ConnectionFailed,
    OSError,
)

# Also statement errors: the worker logs them and retries rather than dying.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, psycopg.Error)

HEALTHY_AFTER = 1.0
"""Seconds a connection must stay up before its loss starts the backoff over."""


def failure_line(exc: BaseException, dsn: str) -> str:
    """One line saying why a connection was dropped, without the DSN's password."""
    if isinstance(exc, TimeoutError):
        return "database did not answer in time"
    return first_line(exc, dsn)


Q = TypeVar("Q", bound=AsyncSession)


class ReconnectingConnection(Generic[Q]):
    """One named autocommit connection and the queries of one role on it (`session`: the
    worker's, the console's), rebuilt on demand after a failure.

    `prepare` runs on every new connection before anyone gets it (the console reads the server
    version there); `on_change` is called whenever it comes up or is dropped, so a status line
    can follow it.
    """

    def __init__(
        self,
        settings: Settings,
        purpose: str,
        session: Callable[[psycopg.AsyncConnection[Any], ObjectNames], Q],
        *,
        backoff: Backoff | None = None,
        prepare: Callable[[Q], Awaitable[None]] | None = None,
        on_change: Callable[[], None] | None = None,
        prepared: bool = False,
    ) -> None:
        self.settings = settings
        self.prepared = prepared
        """psycopg may prepare statements run often (never through a transaction pooler)."""
        self.purpose = purpose
        self.last_error = ""
        """Why it was last dropped, one line without the password ("" before any failure)."""
        self.retry_at: float | None = None
        """Monotonic time of the next attempt while it is down after a failure."""
        self._backoff = backoff or Backoff()
        self._prepare = prepare
        self._on_change = on_change
        self._session = session
        self._queries: Q | None = None
        self._up_since = 0.0
        self._up = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._queries is not None and not self._queries.conn.closed

    @property
    def current(self) -> Q | None:
        """The live queries without connecting; None while down."""
        return self._queries if self.connected else None

    def retry_in(self) -> float | None:
        """Seconds until the next attempt while waiting out a backoff step, else None."""
        if self.retry_at is None or self.connected:
            return None
        return max(self.retry_at - time.monotonic(), 0.0)

    async def queries(self) -> Q:
        """The live queries, connecting first if needed; raises CONNECTION_ERRORS on failure."""
        current = self.current
        if current is not None:
            return current
        async with self._lock:
            if not self.connected:
                await self._connect()
            assert self._queries is not None
            return self._queries

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        """The live connection itself (LISTEN needs it), connecting first if needed."""
        return (await self.queries()).conn

    async def _connect(self) -> None:
        conn = await connect_async(self.settings, self.purpose, prepared=self.prepared)
        queries = self._session(conn, self.settings.names)
        if self._prepare is not None:
            try:
                await self._prepare(queries)
            except BaseException:
                with contextlib.suppress(Exception):
                    await conn.close()
                raise
        self._queries = queries
        self._up_since = time.monotonic()
        self.retry_at = None
        self._up.set()
        self._changed()

    async def lost(self, exc: BaseException) -> float:
        """Drop the connection after `exc`; returns the seconds to wait before the next try.

        Users sharing the connection see one outage as one step: a failure reported while a
        step is still being waited out waits for the same attempt.
        """
        now = time.monotonic()
        self.last_error = failure_line(exc, self.settings.dsn)
        log.debug("%s connection failed: %s", self.purpose, self.last_error)
        if self._queries is None and self.retry_at is not None and self.retry_at > now:
            self._changed()
            return self.retry_at - now
        if self._queries is not None and now - self._up_since >= HEALTHY_AFTER:
            self._backoff.reset()
        await self.close()
        delay = self._backoff.next_delay()
        self.retry_at = time.monotonic() + delay
        self._changed()
        return delay

    async def broken(self, exc: BaseException, stop: asyncio.Event | None = None) -> None:
        """Drop the connection after `exc` and wait a backoff step, cut short by `stop` or by
        another user of this connection bringing it back."""
        delay = await self.lost(exc)
        await wait_for_any([self._up] if stop is None else [self._up, stop], delay)

    async def keep_running(self, step: Callable[[Q], Awaitable[None]], stop: asyncio.Event) -> None:
        """Run `step` (which does its work, then waits its turn) over and over on this
        connection until `stop` is set; a database error drops the connection and waits a
        backoff step instead of ending the loop."""
        while not stop.is_set():
            try:
                await step(await self.queries())
            except DATABASE_ERRORS as exc:
                await self.broken(exc, stop)

    async def close(self) -> None:
        queries, self._queries = self._queries, None
        self._up.clear()
        if queries is not None:
            conn: psycopg.AsyncConnection[Any] = queries.conn
            # Closing a dead connection may fail; it is gone either way.
            with contextlib.suppress(Exception):
                await conn.close()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
