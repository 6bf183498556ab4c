"""A worker reports its resident memory at every heartbeat, and past --max-memory it drains
and exits with status 75 for its supervisor to start a fresh one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from tests.engine.conftest import headless, scalar
from tests.test_cli_admin import cli, target
from tests.waiting import eventually

LIMIT_MIB = 160


async def test_a_leaking_worker_reports_its_memory_then_drains_and_exits_75(
    fast: Settings, queries: ConsoleQueries, aconn: psycopg.AsyncConnection[Any], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    await queries.enqueue(["leak"] * 40)
    worker = headless(
        fast,
        log,
        "--factory",
        "tests.engine.leak_factory:register",
        "--concurrency",
        "1",
        "--retry-timer",
        "3",
        "--max-memory",
        f"{LIMIT_MIB}MiB",
    )
    reported: list[int] = []

    async def exited() -> bool:
        rows = [w.rss_bytes for w in await queries.workers() if w.rss_bytes is not None]
        reported.extend(rows)
        return worker.poll() is not None

    try:
        await eventually(exited, 60, "the worker to pass its limit and exit")
    finally:
        if worker.poll() is None:
            worker.kill()
    text = log.read_text()
    print(f"registry saw {min(reported) / 2**20:.0f} to {max(reported) / 2**20:.0f} MiB")
    assert worker.returncode == 75, text
    assert "past --max-memory 160 MiB: draining" in text, text
    assert reported and min(reported) > 10 * 1024**2  # a real process's size, in bytes
    assert max(reported) > min(reported)  # it grew, and the registry saw it grow
    # It drained: what it did not take is still queued, and it left the registry.
    assert 0 < await queries.count_matching(["leak"]) < 40
    assert await scalar(aconn, "SELECT count(*) FROM {t}", queries.names.workers) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--headless", "--factory", "tests.engine.leak_factory:register", "--max-memory", "x"],
            "give a size such as 512MB",
        ),
        (["--max-memory", "1GB"], "--max-memory needs --headless"),
    ],
)
def test_a_bad_max_memory_is_one_line(
    capsys: pytest.CaptureFixture[str], settings: Settings, argv: list[str], message: str
) -> None:
    code, _, err = cli(capsys, *argv, *target(settings.dsn, settings.names))
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
