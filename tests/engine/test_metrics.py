"""`--metrics-port`: Prometheus metrics and a health probe from a real headless worker, and
the ways it refuses bad input."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pgqtop import Job, QueueManager
from pgqtop.config import Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.engine.metrics import MetricsServer
from tests.engine.conftest import headless
from tests.ports import free_port
from tests.test_cli_admin import pgqtop
from tests.waiting import eventually

FACTORY = ("--factory", "tests.engine.jobs_factory:register")


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, None when it is absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


async def test_a_headless_worker_reports_its_jobs_and_health(
    fast: Settings, queries: ConsoleQueries, done: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    worker = headless(fast, log, *FACTORY, "--metrics-port", str(port))
    try:

        async def healthy() -> bool:
            try:
                return (await asyncio.to_thread(fetch, port, "/healthz"))[0] == 200
            except OSError:
                return False

        await eventually(healthy, 20, "the worker's /healthz to answer 200")
        await queries.enqueue(["alpha"] * 20 + ["beta"] * 5)

        async def all_counted() -> bool:
            text = (await asyncio.to_thread(fetch, port, "/metrics"))[1]
            return (
                sample(text, "pgqtop_jobs_total", entrypoint="alpha", outcome="succeeded") == 20
                and sample(text, "pgqtop_jobs_total", entrypoint="beta", outcome="succeeded") == 5
            )

        await eventually(all_counted, 20, "25 successes in /metrics")
        status, text = await asyncio.to_thread(fetch, port, "/metrics")
        assert status == 200
        assert sample(text, "pgqtop_jobs_total", entrypoint="alpha", outcome="failed") == 0
        assert sample(text, "pgqtop_jobs_in_flight", entrypoint="alpha") == 0
        assert (sample(text, "pgqtop_job_run_seconds_total", entrypoint="alpha") or 0) > 0
        assert sample(text, "pgqtop_worker_state", state="running") == 1
        assert sample(text, "pgqtop_worker_state", state="draining") == 0
        status, body = await asyncio.to_thread(fetch, port, "/healthz")
        assert status == 200 and json.loads(body)["state"] == "running"
        assert (await asyncio.to_thread(fetch, port, "/nothing"))[0] == 404
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 20) == 0, log.read_text()


async def test_health_is_503_until_the_worker_runs(settings: Settings) -> None:
    manager = QueueManager(settings)

    @manager.entrypoint("idle")
    async def idle(job: Job) -> None:
        return None

    server = MetricsServer(manager, "127.0.0.1", 0)
    await server.start()
    try:
        status, body = await asyncio.to_thread(fetch, server.port, "/healthz")
        assert status == 503 and json.loads(body)["state"] == "stopped"
        assert server.respond("POST", "/metrics")[0] == 405
    finally:
        await server.close()


def test_a_taken_metrics_port_is_one_line_and_exit_2(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = pgqtop(
            "--headless",
            *FACTORY,
            "--dsn",
            settings.dsn,
            "--prefix",
            settings.names.prefix,
            "--metrics-port",
            str(port),
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"pgqtop: error: cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics-port", "9100"], "--metrics-port needs --headless"),
        (["--headless", "--metrics-port", "70000"], "is not a port number"),
    ],
)
def test_metrics_port_misuse_is_refused(settings: Settings, args: list[str], message: str) -> None:
    done = pgqtop(*FACTORY, *args, "--dsn", settings.dsn, "--prefix", settings.names.prefix)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
