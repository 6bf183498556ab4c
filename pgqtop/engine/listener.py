"""The LISTEN side: one dedicated connection turning NOTIFY payloads into Events.

psycopg holds the connection lock while it waits for notifications, so LISTEN gets a connection
of its own. When that connection drops, the listener reconnects with backoff; meanwhile a worker
keeps polling every dequeue timeout and the console keeps reconciling, so NOTIFY being down only
costs latency. Workers and the console both listen through this class: it is the one place
that issues LISTEN.

LISTEN is session state, which a transaction-mode pooler does not keep: `listen_dsn` sends this
one connection elsewhere (a session-mode pooler, the server), while every other connection uses
the pooled DSN and nothing else session-bound.

A console does not need each notification the moment it comes: it redraws once a second. So
it reads them in bursts (`coalesce`): after the first one it waits a moment, then takes every
notification that arrived meanwhile in one pass over libpq's queue. Under a busy fleet (a few
hundred notifications a second) that turns a wake-up of the event loop per notification into a
few per second. A worker reads each one at once: a job waits for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pgqtop.config import Settings
from pgqtop.db.session import AsyncSession
from pgqtop.engine.link import CONNECTION_ERRORS, ReconnectingConnection
from pgqtop.engine.retry import Backoff, wait_for_event
from pgqtop.model import Event, EventParseError, parse_event

log = logging.getLogger(__name__)


def listen_settings(settings: Settings) -> Settings:
    """The settings of the LISTEN connection: those given, aimed at `listen_dsn` when set."""
    if settings.listen_dsn is None:
        return settings
    return dataclasses.replace(settings, dsn=settings.listen_dsn, listen_dsn=None)


class Listener:
    """Delivers every parsed event on our channel to `on_event`; reports up/down changes.

    `connection` tells why it is down and when it tries again, for a status line.
    """

    def __init__(
        self,
        settings: Settings,
        on_event: Callable[[Event], None],
        on_connected: Callable[[bool], None] | None = None,
        purpose: str = "listen",
        channel: str | None = None,
        coalesce: float = 0.0,
    ) -> None:
        self.settings = settings
        self.channel = settings.names.channel if channel is None else channel
        """The events channel (consoles), or the work channel (workers: ObjectNames)."""
        self.on_event = on_event
        self.on_connected = on_connected
        self.coalesce = coalesce
        """Seconds to gather notifications after the first before handing them on; 0: each
        at once."""
        self.purpose = purpose
        self.connected = False
        self.ignored = 0
        # A shorter ceiling than the other connections: while it is down, events wait.
        self.connection = ReconnectingConnection(
            listen_settings(settings),
            purpose,
            AsyncSession,
            backoff=Backoff(initial=0.1, maximum=5.0),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop` is set, reconnecting for as long as it takes."""
        try:
            while not stop.is_set():
                try:
                    await self._listen(stop)
                except CONNECTION_ERRORS as exc:
                    delay = await self.connection.lost(exc)
                    self._set_connected(False)
                    log.warning(
                        "notification channel lost (%s); reconnecting in %.1fs",
                        self.connection.last_error,
                        delay,
                    )
                    await wait_for_event(stop, delay)
        finally:
            await self.connection.close()
            self._set_connected(False)

    async def _listen(self, stop: asyncio.Event) -> None:
        conn = await self.connection.connection()
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        self._set_connected(True)
        stopper = asyncio.create_task(stop.wait())
        reader = asyncio.create_task(self._read(conn))
        try:
            done, _ = await asyncio.wait({stopper, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()
        finally:
            for task in (stopper, reader):
                task.cancel()
            await asyncio.gather(stopper, reader, return_exceptions=True)

    async def _read(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self.coalesce > 0:
            await self._read_in_bursts(conn)
            return
        async for notify in conn.notifies():
            self._deliver(notify.payload)
        raise psycopg.OperationalError("notification stream ended")

    async def _read_in_bursts(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Wait for the socket to have something, let more arrive for `coalesce` seconds, then
        take everything libpq has. The connection does nothing but LISTEN, so reading its
        socket here competes with no statement; a lost connection fails `consume_input`."""
        loop = asyncio.get_running_loop()
        pgconn = conn.pgconn
        encoding = conn.info.encoding
        socket = conn.fileno()
        readable = asyncio.Event()
        # What libpq already holds (read along with LISTEN's reply) would not make the socket
        # readable again: hand it on first. The console counts afresh on each new LISTEN
        # anyway, so nothing sent before it matters.
        self._drain(pgconn, encoding)
        while True:
            readable.clear()
            loop.add_reader(socket, readable.set)
            try:
                await readable.wait()
            finally:
                loop.remove_reader(socket)
            await asyncio.sleep(self.coalesce)
            pgconn.consume_input()  # OperationalError when the connection is gone
            self._drain(pgconn, encoding)

    def _drain(self, pgconn: psycopg.pq.abc.PGconn, encoding: str) -> None:
        while (notify := pgconn.notifies()) is not None:
            self._deliver(notify.extra.decode(encoding, "replace"))

    def _deliver(self, payload: str) -> None:
        try:
            event = parse_event(payload)
        except EventParseError as problem:
            self.ignored += 1
            level = logging.WARNING if self.ignored == 1 else logging.DEBUG
            log.log(level, "ignored a notification that is not ours: %s", problem)
            return
        self.on_event(event)

    def _set_connected(self, value: bool) -> None:
        if value != self.connected:
            self.connected = value
            if self.on_connected:
                self.on_connected(value)
