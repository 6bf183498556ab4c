"""`pgqtop --headless`: the worker engine without a UI, stopped by SIGINT/SIGTERM.

The first signal drains (stop taking jobs, let running ones finish within the grace period,
flush, deregister) and exits 0; a second signal exits at once, leaving the jobs still running
to the retry timer of the other workers. A worker past `--max-memory` drains the same way and
exits with MEMORY_EXIT_STATUS (75), for its supervisor to start a fresh one.

Python joins every thread of a thread pool before it exits, so a sync handler that never
returns would keep a drained worker alive for ever: the process ends with os._exit instead
when such threads are left (their jobs stay picked, for the retry timer).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from pgqtop.config import Settings
from pgqtop.engine.factory import apply_factory, restrict_entrypoints
from pgqtop.engine.manager import QueueManager
from pgqtop.engine.memory import MEMORY_EXIT_STATUS, parse_size
from pgqtop.engine.metrics import MetricsServer
from pgqtop.engine.timing import check_timing

log = logging.getLogger("pgqtop.headless")


def check_schema(settings: Settings) -> None:
    """One clear line when the schema is missing or old, before any worker starts."""
    from pgqtop.commands.common import sync_connection
    from pgqtop.db import schema

    with sync_connection(settings, "check") as conn:
        schema.require_current(conn, settings.names)


async def configure(args: argparse.Namespace, manager: QueueManager) -> None:
    """Register the entrypoints of --factory (or the demo's), then apply --entrypoint."""
    if args.demo:
        from pgqtop.demo import register

        register(manager)
    else:
        await apply_factory(args.factory, manager)
    restrict_entrypoints(manager, args.entrypoint)


def prepare_manager(args: argparse.Namespace, settings: Settings) -> QueueManager:
    """A configured manager for an embedding console, built before its event loop starts."""
    manager = QueueManager(settings)
    asyncio.run(configure(args, manager))
    return manager


def run_headless(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "max_memory", None):
        settings.engine.max_memory = parse_size(args.max_memory)
    check_timing(settings.engine)
    check_schema(settings)
    managers: list[QueueManager] = []
    code = run_loop(_headless(args, settings, managers))
    for manager in managers:
        exit_if_threads_stranded(manager, code)
    return code


def exit_if_threads_stranded(manager: QueueManager, code: int) -> None:
    """End the process now when handler threads still run after the worker stopped: Python
    would wait for them at exit, and a handler that never returns would keep it alive."""
    stranded = manager.busy_threads
    if stranded:
        log.warning(
            "%d handler threads still running after the worker stopped: exiting without them "
            "(their jobs are re-taken after the retry timer)",
            stranded,
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop when it is installed (faster I/O), else on the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def _headless(
    args: argparse.Namespace, settings: Settings, managers: list[QueueManager]
) -> int:
    manager = QueueManager(settings)
    managers.append(manager)
    await configure(args, manager)
    metrics: MetricsServer | None = None
    if args.metrics_port is not None:
        metrics = MetricsServer(manager, args.metrics_host, args.metrics_port)
        await metrics.start()
        log.info("metrics on http://%s:%d/metrics", metrics.host, metrics.port)
    stop_extras = asyncio.Event()
    extras: list[asyncio.Task[None]] = []
    if args.demo:
        from pgqtop.demo import produce

        extras.append(asyncio.create_task(produce(settings, stop_extras)))
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stopping:
            log.warning("%s again: exiting now; running jobs are left to the retry timer", name)
            sys.stderr.flush()
            os._exit(128 + signum)
        log.info("%s: shutting down (grace %gs)", name, settings.engine.shutdown_grace)
        stop_extras.set()
        stopping.append(asyncio.create_task(manager.stop()))

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    code = 0
    try:
        if getattr(args, "burst", False):
            from pgqtop.commands.burst import run_burst

            code = await run_burst(manager, args)
        else:
            await manager.run()
    finally:
        stop_extras.set()
        await asyncio.gather(*extras, *stopping, return_exceptions=True)
        if metrics is not None:
            await metrics.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return MEMORY_EXIT_STATUS if manager.stop_reason == "memory" else code
