"""A thread that notices when a handler blocks the event loop, and keeps the worker alive
meanwhile.

An async handler that calls blocking code (time.sleep, a sync driver, a long computation)
stops the whole event loop: no heartbeat goes out, the worker's jobs look lost after the retry
timer, another worker re-takes them, and that one blocks too. The watchdog runs beside the loop:
the loop moves a timestamp on a few times a second, and when that timestamp stops moving for a
heartbeat interval or a second (timing.blocked_after), the watchdog logs once which job blocks
the loop and where (the loop thread's stack), then beats the worker's jobs from its own thread
until the loop runs again. It opens its connection only then, so a healthy worker's connection
count stays as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

import psycopg

from pgqtop.config import Settings
from pgqtop.db.connection import connect_sync
from pgqtop.db.rows import WorkerIdentity, WorkerReport
from pgqtop.db.worker import beat_from_thread
from pgqtop.engine.timing import beat_interval, blocked_after
from pgqtop.errors import ConnectionFailed

log = logging.getLogger(__name__)

BLOCKED_STATE = "blocked"
"""The state a worker's registry row shows while a handler blocks its loop."""
STACK_FRAMES = 8
"""Innermost frames of the loop thread's stack that the warning shows."""


class LoopWatchdog:
    """Watches one event loop from a daemon thread; see the module's docstring."""

    def __init__(
        self,
        settings: Settings,
        identity: Callable[[], WorkerIdentity],
        report: Callable[[], WorkerReport],
        blocker: Callable[[FrameType | None], str],
        purpose: str,
    ) -> None:
        self.settings = settings
        self.blocked_after = blocked_after(settings.engine)
        """The loop counts as blocked when it has not ticked for this long."""
        self.interval = beat_interval(settings.engine)
        """While it is, the watchdog beats this often."""
        self.identity = identity
        self.report = report
        self.blocker = blocker
        self.purpose = purpose
        self._period = self.blocked_after / 4
        self._last_tick = time.monotonic()
        self._loop_thread = 0
        self._tick_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None

    def start(self) -> None:
        """Start ticking on the running loop and watching from a thread."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopped.clear()
        self._tick()
        self._thread = threading.Thread(target=self._watch, name="pgqtop watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking and watching (from the loop's thread)."""
        self._stopped.set()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _tick(self) -> None:
        self._last_tick = time.monotonic()
        if not self._stopped.is_set() and self._loop is not None:
            self._tick_handle = self._loop.call_later(self._period, self._tick)

    # --- the watching thread ------------------------------------------------------------------

    def _watch(self) -> None:
        blocked_since: float | None = None
        next_beat = 0.0
        try:
            while not self._stopped.wait(self._period):
                now = time.monotonic()
                still = now - self._last_tick
                if still < self.blocked_after:
                    if blocked_since is not None:
                        log.info("event loop running again after %.1fs", now - blocked_since)
                        blocked_since = None
                        self._close()
                    continue
                if blocked_since is None:
                    blocked_since = self._last_tick
                    self._warn(still)
                if now >= next_beat:
                    next_beat = now + self.interval
                    self._beat()
        finally:
            self._close()

    def _warn(self, still: float) -> None:
        frame = sys._current_frames().get(self._loop_thread)
        stack = "".join(traceback.format_stack(frame)[-STACK_FRAMES:]) if frame else ""
        log.warning(
            "event loop blocked for %.1fs by %s: handlers must await, not block (run blocking "
            "code in a sync handler); keeping this worker's jobs alive from a thread meanwhile."
            " The loop is at:\n%s",
            still,
            self.blocker(frame),
            stack.rstrip(),
        )

    def _beat(self) -> None:
        try:
            report = self.report()
        except RuntimeError:  # the loop woke and changed its jobs while we read them
            return
        blocked = WorkerReport(
            report.job_ids,
            report.in_flight,
            report.processed,
            report.failed,
            BLOCKED_STATE,
            report.rss_bytes,
            report.hung_threads,
        )
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect_sync(self.settings, self.purpose)
            beat_from_thread(self._conn, self.settings.names, self.identity(), blocked)
        except (ConnectionFailed, psycopg.Error) as exc:
            log.warning("heartbeat from the watchdog failed: %s", exc)
            self._close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()
