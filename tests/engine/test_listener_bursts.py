"""A console's Listener reads notifications in bursts (engine/listener.py `coalesce`): every
notification still arrives, in order, a stranger's payload is skipped, a killed connection is
reconnected, and a stream of single notifications wakes it a few times rather than once each."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import psycopg

from pgqtop.config import Settings
from pgqtop.engine.listener import Listener
from pgqtop.model import Event
from tests.waiting import eventually

COALESCE = 0.1


def payload(n: int) -> str:
    return json.dumps({"op": "insert", "changes": {f"e{n}": {"queued": 1}}})


class Heard:
    """What the listener handed on, with when, and its connection changes."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self.connections: list[bool] = []

    def event(self, event: Event) -> None:
        self.events.append((time.monotonic(), next(iter(event.changes))))

    def bursts(self) -> int:
        """Groups of events handed on together (less than a millisecond apart)."""
        times = [t for t, _ in self.events]
        return 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > 0.001)


async def notify(conn: psycopg.AsyncConnection[Any], channel: str, numbers: range) -> None:
    await conn.execute(
        "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
        (channel, [payload(n) for n in numbers]),
    )


async def test_bursts_deliver_everything_in_order_and_skip_strangers(
    settings: Settings, aconn: psycopg.AsyncConnection[Any]
) -> None:
    heard = Heard()
    listener = Listener(settings, heard.event, heard.connections.append, coalesce=COALESCE)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    channel = settings.names.channel
    try:
        await eventually(lambda: heard.connections == [True], 10, "the listener to connect")
        await notify(aconn, channel, range(0, 50))
        await aconn.execute("SELECT pg_notify(%s, 'not json')", (channel,))
        started = time.monotonic()
        for n in range(50, 150):  # one transaction each, as a busy fleet sends them
            await notify(aconn, channel, range(n, n + 1))
        sending = time.monotonic() - started
        await eventually(lambda: len(heard.events) == 150, 10, "150 events")
    finally:
        stop.set()
        await task
    assert [name for _, name in heard.events] == [f"e{n}" for n in range(150)]
    assert listener.ignored == 1
    # A hundred notifications in `sending` seconds reached the handler in about one burst per
    # COALESCE seconds, not a hundred times.
    assert heard.bursts() <= sending / COALESCE + 3, (heard.bursts(), sending)


async def test_a_killed_burst_reader_reconnects_and_hears_again(
    settings: Settings, aconn: psycopg.AsyncConnection[Any]
) -> None:
    heard = Heard()
    listener = Listener(
        settings, heard.event, heard.connections.append, purpose="burst test", coalesce=COALESCE
    )
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    channel = settings.names.channel
    try:
        await eventually(lambda: heard.connections == [True], 10, "the listener to connect")
        await aconn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'pgqtop burst test'"
        )
        await eventually(
            lambda: heard.connections == [True, False, True], 15, "a lost and a new connection"
        )
        await notify(aconn, channel, range(3))
        await eventually(lambda: len(heard.events) == 3, 10, "the events after the reconnect")
    finally:
        stop.set()
        await task
