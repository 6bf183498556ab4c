"""Render the README's console pictures from the real app against a seeded database.

    python scripts/screenshots.py [--dsn DSN] [--out screenshots]

Without --dsn an embedded PostgreSQL is started. The data is seeded under its own prefix
(dropped and recreated), with a few seconds of real completions so the chart has a shape.
Each main view is saved as SVG in several themes; one PNG is made when `rsvg-convert` exists.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from cronsim import CronSim

from pgqtop.config import ObjectNames, Settings
from pgqtop.db import schema
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import WorkerIdentity
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from pgqtop.server import embedded_server
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.screens.detail import DetailScreen
from pgqtop.tui.screens.help import HelpScreen
from pgqtop.tui.screens.jobs import JobsScreen

PREFIX = "pgqtop_shots"
SIZE = (160, 48)
ENTRYPOINTS = {"send_email": 0.04, "resize_image": 0.01, "sync_crm": 0.2, "nightly_report": 0.0}
THEMES = {"main": ["midnight", "paper", "contrast", "phosphor"], "other": ["midnight", "paper"]}
TRACEBACK = """Traceback (most recent call last):
  File "app/tasks.py", line 41, in sync_crm
    response = client.push(contact)
  File "app/crm.py", line 88, in push
    raise TimeoutError("CRM did not answer within 10s")
TimeoutError: CRM did not answer within 10s"""


async def seed(settings: Settings, seconds: int) -> None:
    """Queues of different shapes, real completions over a few seconds, failures, a worker."""
    rng = random.Random(7)
    async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
        queries = ConsoleQueries(conn, settings.names)
        taker = WorkerQueries(conn, settings.names)
        worker = uuid.UUID(int=0x5EED)
        identity = WorkerIdentity(worker, "web-1", 4242, "0.1.0", list(ENTRYPOINTS), 200)
        for second in range(seconds):
            names = [e for e in ENTRYPOINTS for _ in range(rng.randint(20, 60))]
            await queries.enqueue(
                names, [f'{{"id": {second * 1000 + i}}}'.encode() for i in range(len(names))]
            )
            taken = await taker.dequeue({e: 40 for e in ENTRYPOINTS}, 400, worker, 30.0)
            outcomes = []
            for job in taken:
                failing = rng.random() < ENTRYPOINTS[job.entrypoint]
                outcomes.append(
                    Outcome(
                        job.id,
                        Status.EXCEPTION if failing else Status.SUCCESSFUL,
                        rng.uniform(0.01, 0.4),
                        "TimeoutError: CRM did not answer within 10s" if failing else "",
                        TRACEBACK if failing else "",
                    )
                )
            await taker.complete(outcomes, worker)
            await taker.heartbeat(identity, [], in_flight=12, processed=second * 150, failed=3)
            # One queue-history sample a second, so the depth chart has a shape too.
            await taker.sample_history(
                worker, interval=1.0, retention_seconds=86400.0, cost_factor=0.0
            )
            await asyncio.sleep(1.0)
        await queries.enqueue(["nightly_report"] * 800 + ["send_email"] * 300)
        await queries.enqueue(["resize_image"] * 5, [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"] * 5)
        await queries.enqueue(["send_email"] * 40, execute_after=[3240.0] * 40)
        await queries.pause(
            ["nightly_report"], seconds=900, by="ops@web-1", reason="warehouse maintenance"
        )
        now = dt.datetime.now(dt.UTC)
        await taker.register_schedules(
            {"nightly_report": "0 3 * * *", "rotate_keys": "@every 20s"},
            {
                "nightly_report": next(CronSim("0 3 * * *", now)),
                "rotate_keys": now + dt.timedelta(seconds=14),
            },
        )


async def shoot(settings: Settings, out: Path, view: str, theme: str) -> Path:
    app = PgqtopApp(settings, theme=theme, remember_state=False)
    async with app.run_test(size=SIZE) as pilot:

        async def until(check: Callable[[], bool]) -> None:
            for _ in range(200):
                if check():
                    return
                await pilot.pause(0.1)
            raise RuntimeError(f"{view}: the console never got there")

        await until(lambda: app.watcher.queries is not None and bool(app.state.failures))
        # The seeded history ages out of the 1-minute chart: only the main view needs it.
        await until(lambda: bool(app.state.workers) and (view != "main" or bool(app.state.series)))
        await pilot.pause(1.5)
        if view == "failure":
            app.open_failure(app.state.failures[0].id)
            await until(lambda: isinstance(app.screen, DetailScreen))
        elif view == "jobs":
            await pilot.press("j")
            await until(lambda: isinstance(app.screen, JobsScreen) and bool(app.screen.jobs))
        elif view == "grouped":
            app.action_failures_view()
            await until(lambda: bool(app.state.failure_groups))
        elif view == "history":
            app.state.chart_view = "depth"
            app.state.touch()
            app.watcher.poke()
            await until(lambda: bool(app.state.chart_history))
            await pilot.pause(1.0)
        elif view == "help":
            await pilot.press("question_mark")
            await until(lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.3)
        name = f"{view}-{theme}.svg"
        app.save_screenshot(name, str(out))
        await pilot.press("escape")
    return out / name


@contextlib.contextmanager
def database(dsn: str | None) -> Iterator[str]:
    if dsn:
        yield dsn
    else:
        with embedded_server(Path(tempfile.mkdtemp(prefix="pgqtop-shots-"))) as url:
            yield url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="database to seed (default: an embedded PostgreSQL)")
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--seconds", type=int, default=12, help="seconds of seeded history")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PGQTOP_STATE_DIR", tempfile.mkdtemp(prefix="pgqtop-shots-state-"))
    with database(args.dsn) as dsn:
        names = ObjectNames(PREFIX)
        with psycopg.connect(dsn, autocommit=True) as conn:
            schema.uninstall(conn, names)
            schema.install(conn, names)
        settings = Settings(dsn=dsn, names=names)
        try:
            asyncio.run(seed(settings, args.seconds))
            made = []
            for view in ("main", "grouped", "history", "failure", "jobs", "help"):
                for theme in THEMES["main" if view == "main" else "other"]:
                    made.append(asyncio.run(shoot(settings, args.out, view, theme)))
                    print(made[-1])
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                schema.uninstall(conn, names)
    converter = shutil.which("rsvg-convert")
    if converter:
        png = args.out / "main-midnight.png"
        subprocess.run(
            [converter, "-o", str(png), str(args.out / "main-midnight.svg")], check=False
        )
        print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
