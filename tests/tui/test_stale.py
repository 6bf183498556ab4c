"""With the database gone the console says so everywhere: the header gives the whole reason,
every pane whose data predates the outage says since when, and ages stop ticking as if the
numbers were live. When the server is back the marks go."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import re
from collections.abc import Callable

import psycopg.conninfo

from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.tui.app import PgqtopApp
from tests.ports import free_port
from tests.tui.conftest import cell_text, make_failure, screen_text, until

Factory = Callable[..., PgqtopApp]
PANES = ("queues", "throughput", "events", "workers", "failures")


class Gate:
    """A TCP relay to the test server that can be shut like a stopped server: every
    connection through it dropped, new ones refused."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def shut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        self.writers.clear()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        import time

        return time.time() + self.offset


def subtitles(app: PgqtopApp) -> dict[str, str]:
    return {pane: str(app.query_one(f"#{pane}").border_subtitle or "") for pane in PANES}


async def test_a_stopped_server_marks_every_pane_stale_and_ages_stop(
    make_app: Factory, settings: Settings, queries: ConsoleQueries
) -> None:
    await make_failure(queries)
    await queries.enqueue("send_email", None, 0)
    parts = psycopg.conninfo.conninfo_to_dict(settings.dsn)
    gate = Gate(str(parts.get("host") or "127.0.0.1"), int(parts.get("port") or 5432))
    await gate.open()
    through = dataclasses.replace(
        settings, dsn=psycopg.conninfo.make_conninfo(settings.dsn, port=str(gate.port))
    )
    clock = Clock()
    app = make_app(settings=through, clock=clock)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: cell_text(app, "queues", "send_email", "queued") == "1")
        await until(pilot, lambda: len(app.state.failures) == 1 and bool(app.state.series_at))
        assert not [s for s in subtitles(app).values() if "stale" in s]
        failure = str(app.state.failures[0].id)
        age_live = cell_text(app, "failures", failure, "age")

        await gate.shut()
        await until(pilot, lambda: app.state.connection == "reconnecting", 15)
        dropped = dt.datetime.now()
        await until(pilot, lambda: all("stale since" in s for s in subtitles(app).values()))
        stamps = {
            re.findall(r"stale since (\d\d:\d\d:\d\d)", s)[0] for s in subtitles(app).values()
        }
        (since,) = stamps  # one moment, the same on every pane
        moment = dt.datetime.combine(dropped.date(), dt.time.fromisoformat(since))
        assert abs((moment - dropped).total_seconds()) < 20
        assert "sort: entrypoint" in subtitles(app)["queues"]  # the pane's own note stays

        # The whole reason, naming the port, not cut at a fixed length.
        def top() -> str:
            return "\n".join(screen_text(app).splitlines()[:3])

        await until(pilot, lambda: "connection refused (is PostgreSQL running there?)" in top(), 15)
        assert "reconnecting" in top() and f"127.0.0.1:{gate.port}/test" in top()

        # Ages stand still while stale, however long the outage lasts.
        oldest = cell_text(app, "queues", "send_email", "oldest")
        age_stale = cell_text(app, "failures", failure, "age")
        clock.offset += 3600
        await pilot.pause(1.2)
        assert cell_text(app, "queues", "send_email", "oldest") == oldest
        assert cell_text(app, "failures", failure, "age") == age_stale
        assert age_live is not None

        await gate.open()
        await until(pilot, lambda: app.state.connection == "connected", 20)
        await until(pilot, lambda: not [s for s in subtitles(app).values() if "stale" in s], 15)
        # Live again: the hour that went by shows.
        await until(pilot, lambda: "1h" in (cell_text(app, "failures", failure, "age") or ""))
    await gate.shut()
