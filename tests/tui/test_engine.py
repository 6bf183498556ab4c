"""The embedded worker inside the console: it drains the queue, `w` stops and starts it,
`+`/`-` change its concurrency, and the header says which."""

from __future__ import annotations

from collections.abc import Callable

from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job
from pgqtop.tui.app import PgqtopApp
from tests.tui.conftest import screen_text, until


async def test_w_plus_minus_drive_the_embedded_worker(
    make_app: Callable[..., PgqtopApp], queries: ConsoleQueries, settings: Settings
) -> None:
    settings.engine.concurrency = 10
    settings.engine.heartbeat_interval = 0.5
    manager = QueueManager(settings)
    done: list[int] = []

    @manager.entrypoint("send_email")
    async def send_email(job: Job) -> None:
        done.append(job.id)

    await queries.enqueue(["send_email"] * 20, None, 0)
    app = make_app(manager=manager)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: len(done) == 20)
        await until(pilot, lambda: "worker: running 0/10" in screen_text(app).splitlines()[0])
        await pilot.press("plus")
        assert manager.concurrency == 20
        await until(pilot, lambda: "running 0/20" in screen_text(app).splitlines()[0])
        await pilot.press("minus", "minus")
        assert manager.concurrency == 5
        await until(pilot, lambda: len(app.state.workers) == 1)  # registered in the fleet
        await pilot.press("w")
        await until(pilot, lambda: manager.state == "stopped")
        await until(pilot, lambda: "worker: stopped" in screen_text(app).splitlines()[0])
        await queries.enqueue(["send_email"] * 3, None, 0)
        await pilot.pause(0.5)
        assert len(done) == 20  # a stopped worker takes nothing
        await pilot.press("w")
        await until(pilot, lambda: len(done) == 23)
    assert manager.state == "stopped"  # quitting the console stops the engine
