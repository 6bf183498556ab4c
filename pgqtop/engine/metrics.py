"""Prometheus metrics and a health check for a worker (`--metrics-port`).

prometheus_client renders the exposition format from a collector that reads the engine's
plain counters at scrape time, so nothing is counted twice and a job adds only its run time
to a sum.
A small asyncio server on the worker's own loop answers two paths:

- `/metrics`: jobs by entrypoint and outcome, time in handlers, jobs in flight, scheduled
  runs enqueued, concurrency, the worker's state, its resident memory, and the threads of
  its pool of sync handlers (size, busy, hung);
- `/healthz`: 200 while the worker is running, 503 while it starts, reconnects or drains
  (a liveness or readiness probe).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from typing import get_args

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pgqtop.engine.manager import QueueManager, State
from pgqtop.engine.memory import resident_bytes
from pgqtop.errors import UsageError

OUTCOMES = ("succeeded", "failed", "retried", "canceled")
STATES: tuple[str, ...] = get_args(State)
_READ_TIMEOUT = 5.0
_STATUS_TEXT = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Unavailable"}


class EngineCollector(Collector):
    """The engine's counters as Prometheus metrics, read when scraped."""

    def __init__(self, manager: QueueManager) -> None:
        self.manager = manager

    def collect(self) -> Iterator[Metric]:
        counters = self.manager.counters
        jobs = CounterMetricFamily(
            "pgqtop_jobs", "Jobs this worker finished, by outcome", labels=["entrypoint", "outcome"]
        )
        seconds = CounterMetricFamily(
            "pgqtop_job_run_seconds", "Time spent in handlers", labels=["entrypoint"]
        )
        in_flight = GaugeMetricFamily(
            "pgqtop_jobs_in_flight", "Jobs running in this worker now", labels=["entrypoint"]
        )
        for name, tally in sorted(counters.by_entrypoint.items()):
            for outcome in OUTCOMES:
                jobs.add_metric([name, outcome], getattr(tally, outcome))
            seconds.add_metric([name], tally.run_seconds)
            in_flight.add_metric([name], tally.in_flight)
        yield jobs
        yield seconds
        yield in_flight
        yield CounterMetricFamily(
            "pgqtop_scheduled_runs",
            "Scheduled runs this worker enqueued",
            value=counters.scheduled,
        )
        yield GaugeMetricFamily(
            "pgqtop_concurrency", "Jobs this worker may run at once", value=self.manager.concurrency
        )
        state = GaugeMetricFamily(
            "pgqtop_worker_state", "1 for the worker's current state", labels=["state"]
        )
        for name in STATES:
            state.add_metric([name], 1.0 if self.manager.state == name else 0.0)
        yield state
        yield GaugeMetricFamily(
            "pgqtop_resident_memory_bytes",
            "Resident memory of this worker process",
            value=resident_bytes(),
        )
        threads = GaugeMetricFamily(
            "pgqtop_threads",
            "Threads of the pool that runs sync handlers: its size, those running a handler, "
            "and those still running one whose job already ended (hung)",
            labels=["kind"],
        )
        threads.add_metric(["pool"], self.manager.pool_size)
        threads.add_metric(["busy"], self.manager.busy_threads)
        threads.add_metric(["hung"], self.manager.hung_threads)
        yield threads


class MetricsServer:
    """Serves /metrics and /healthz for one QueueManager until closed."""

    def __init__(self, manager: QueueManager, host: str, port: int) -> None:
        self.manager = manager
        self.host = host
        self.port = port
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(EngineCollector(manager))
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen now, so a taken port fails the start with one clear line."""
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise UsageError(f"cannot serve metrics on {self.host}:{self.port}: {reason}") from None
        sockets = self._server.sockets
        if sockets and self.port == 0:
            self.port = int(sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for one request."""
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"only GET\n"
        route = path.split("?", 1)[0]
        if route == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if route == "/healthz":
            state = self.manager.state
            body = json.dumps({"state": state, "worker": str(self.manager.worker_id)}).encode()
            return (200 if state == "running" else 503), "application/json", body + b"\n"
        return 404, "text/plain", b"try /metrics or /healthz\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT)
            while (line := await asyncio.wait_for(reader.readline(), _READ_TIMEOUT)).strip():
                del line  # headers: nothing here depends on them
            parts = request.decode("latin-1").split()
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            status, content_type, body = self.respond(method, path)
            head = (
                f"HTTP/1.1 {status} {_STATUS_TEXT[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
