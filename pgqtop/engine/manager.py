"""QueueManager: the registry of entrypoints and the worker loop (dequeue -> dispatch -> wait).

Connections per worker: LISTEN (listener.py; none with `listen` off, the loop then polls every
`poll_interval`), the dequeue connection of this loop, and completion flushes plus heartbeats,
schedules and maintenance (buffer.py, control.py, retention.py) on a second one, so a flush
and a dequeue overlap. A worker told of a transaction pooler (`Settings.pooled`: LISTEN
elsewhere or not at all) runs dequeue and completion on one connection instead, each statement
its own transaction, with nothing prepared. Any connection may drop; each comes back on its own
with backoff while the others carry on, and the state reads "reconnecting" until all are back.
One more opens only while a handler blocks the event loop (watchdog.py).

Sync handlers run in a thread pool. Python cannot stop a thread, so a sync job that times out
or is canceled ends at once while its thread runs on ("hung"): sync entrypoints then get only
as many jobs as there are free threads, so no job waits in the pool's queue behind a hung one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import inspect
import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any, Literal, TypeVar

import psycopg

from pgqtop.config import ObjectNames, Settings, describe_dsn
from pgqtop.db.connection import connect_async
from pgqtop.db.rows import Beat, WorkerIdentity, WorkerReport
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.buffer import CompletionBuffer
from pgqtop.engine.burst import BurstResult, BurstWatch, OnEmpty
from pgqtop.engine.control import Heartbeat, PauseState
from pgqtop.engine.herd import WakeGate
from pgqtop.engine.lanes import Lanes
from pgqtop.engine.link import DATABASE_ERRORS, ReconnectingConnection
from pgqtop.engine.listener import Listener
from pgqtop.engine.memory import describe_size, resident_bytes
from pgqtop.engine.payloads import typed_handler
from pgqtop.engine.retry import RetryPolicy, wait_for_any, wait_for_event
from pgqtop.engine.schedule import Schedule, Scheduler, parse_schedule
from pgqtop.engine.seats import Seat, alive_window
from pgqtop.engine.timing import check_timing, stall_scan_interval
from pgqtop.engine.watchdog import LoopWatchdog
from pgqtop.errors import UsageError
from pgqtop.model import (
    Event,
    Job,
    Outcome,
    PayloadInvalid,
    Status,
    first_line,
    is_reserved_name,
    short_id,
)

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
State = Literal["stopped", "starting", "running", "reconnecting", "draining"]
StopReason = Literal["asked", "memory"]

_FLUSH_ON_STOP_TIMEOUT = 10.0


@dataclasses.dataclass(slots=True)
class Tally:
    """How many jobs were taken and how they ended; `in_flight` is running right now."""

    taken: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    canceled: int = 0
    in_flight: int = 0
    run_seconds: float = 0.0
    """Time spent in handlers, summed over the jobs that ended."""

    @property
    def processed(self) -> int:
        return self.succeeded + self.failed + self.retried + self.canceled


@dataclasses.dataclass(slots=True)
class EngineCounters(Tally):
    """Totals of this worker, plus one Tally per entrypoint; plain ints, cheap to read."""

    by_entrypoint: dict[str, Tally] = dataclasses.field(default_factory=dict)
    scheduled: int = 0
    """Scheduled runs this worker enqueued."""


@dataclasses.dataclass(frozen=True, slots=True)
class EngineEvent:
    """A change of engine state, for a UI to show; `kind` is "state", "paused", "schedule"
    or "error"."""

    kind: str
    state: str
    message: str
    at: float = dataclasses.field(default_factory=time.time)


@dataclasses.dataclass(slots=True)
class Entrypoint:
    name: str
    handler: Callable[[Job], Any]
    is_async: bool
    concurrency_limit: int | None
    retry: RetryPolicy | None
    timeout: float | None
    tally: Tally
    schedule: Schedule | None = None


_NOTHING: set[str] = set()
_CANCEL = "cancel"
_TIMEOUT = "timeout"
_SHUTDOWN = "shutdown"


class QueueManager:
    """Runs registered entrypoints against one pgqtop queue; see `run()` and `stop()`."""

    def __init__(self, settings: Settings, *, worker_name: str | None = None) -> None:
        self.settings = settings
        self.worker_name = worker_name
        self.worker_id = uuid.uuid4()
        self.counters = EngineCounters()
        self._registry: dict[str, Entrypoint] = {}
        self._concurrency = max(settings.engine.concurrency, 1)
        self._state: State = "stopped"
        self._listeners: list[Callable[[EngineEvent], None]] = []
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._cancel_reasons: dict[int, str] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._threads_busy = 0
        """Pool threads running a handler now, hung ones included."""
        self._hung: dict[int, str] = {}
        """Job id -> entrypoint of the sync jobs that ended while their thread runs on."""
        self._thread_starved = False
        self._saturated = False
        self.stop_reason: StopReason | None = None
        """Why the last run stopped: "asked" (stop(), a signal) or "memory" (max_memory)."""
        self._troubled: set[str] = set()
        self._pauses = PauseState()
        self._control_dirty = True
        self._due_dirty = True
        self._due_at: float | None = None
        self._wake_on_room = False
        self._wake_for: set[str] = _NOTHING
        self._grace: float | None = None
        self._stop = asyncio.Event()
        self._halt = asyncio.Event()
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._buffer: CompletionBuffer | None = None
        self._next_stall_scan = 0.0
        self._next_control_read = 0.0
        self._gate = WakeGate()
        self._deferral = asyncio.Event()
        self._heartbeat: Heartbeat | None = None
        check_timing(settings.engine)
        self._outcome_listeners: list[Callable[[Job, Outcome], None]] = []
        self._burst: BurstWatch | None = None
        self._lanes: Lanes | None = None
        self._seat = Seat(0, False, self._seat_changed)
        self._listen_stop = asyncio.Event()
        """Set when the LISTEN seat is given up or the worker stops."""
        self._listen_tasks: set[asyncio.Task[None]] = set()
        """The seat's listener and those of seats given up that are still closing."""

    # --- registry -----------------------------------------------------------------------------

    def entrypoint(
        self,
        name: str,
        *,
        concurrency_limit: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        schedule: str | float | None = None,
        payload: type[Any] | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function (async, or sync to run in a thread) for `name`.
        With `schedule` (a cron expression in UTC, "@every 30s", or seconds) the fleet also
        enqueues a job for it on that timetable, once per run whatever the number of workers.
        With `payload` (a dataclass or pydantic model class) the function is called as
        `function(job, payload)` with the payload rebuilt and checked first; a payload that
        does not fit fails the job at once, without retries."""
        if is_reserved_name(name):
            raise UsageError(f"invalid entrypoint name {name!r}")
        if name in self._registry:
            raise UsageError(f"entrypoint {name!r} is registered twice")
        if concurrency_limit is not None and concurrency_limit < 1:
            raise UsageError(f"entrypoint {name!r}: concurrency_limit must be at least 1")
        if timeout is not None and timeout <= 0:
            raise UsageError(f"entrypoint {name!r}: timeout must be positive")
        try:
            timetable = None if schedule is None else parse_schedule(schedule)
        except UsageError as exc:
            raise UsageError(f"entrypoint {name!r}: {exc}") from None

        def register(function: F) -> F:
            call = getattr(function, "__call__", None)  # noqa: B004 - async callable objects
            is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)
            handler = self._typed(name, function, payload, is_async)
            tally = self.counters.by_entrypoint.setdefault(name, Tally())
            self._registry[name] = Entrypoint(
                name, handler, is_async, concurrency_limit, retry, timeout, tally, timetable
            )
            return function

        return register

    @staticmethod
    def _typed(
        name: str, function: Callable[..., Any], payload: type[Any] | None, is_async: bool
    ) -> Callable[[Job], Any]:
        """The handler the engine calls: the function itself, or with a payload model, the
        function behind a decoder (engine/payloads.py)."""
        if payload is None:
            return function
        return typed_handler(name, function, payload, is_async=is_async)

    @staticmethod
    def retry(
        max_attempts: int = 3,
        backoff: float = 2.0,
        initial_delay: float = 1.0,
        max_delay: float = 300.0,
    ) -> RetryPolicy:
        """A retry policy for `entrypoint(retry=...)`."""
        return RetryPolicy(max_attempts, backoff, initial_delay, max_delay)

    @property
    def entrypoints(self) -> list[str]:
        return list(self._registry)

    def max_attempts(self) -> dict[str, int]:
        """How many times each entrypoint's jobs may be taken: its retry policy's
        max_attempts, else the engine's default_max_attempts. A job whose worker disappears
        on the last of them is given up rather than taken again."""
        default = self.settings.engine.default_max_attempts
        return {
            name: entry.retry.max_attempts if entry.retry is not None else default
            for name, entry in self._registry.items()
        }

    def keep_only(self, names: Iterable[str]) -> None:
        """Forget every entrypoint not named (the `--entrypoint` filter)."""
        wanted = set(names)
        self._registry = {n: e for n, e in self._registry.items() if n in wanted}

    # --- state --------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def concurrency(self) -> int:
        return self._concurrency

    @property
    def hung_threads(self) -> int:
        """Threads still running sync handlers whose jobs already ended."""
        return len(self._hung)

    @property
    def busy_threads(self) -> int:
        """Threads of the pool running a handler now, hung ones included."""
        return self._threads_busy

    @property
    def pool_size(self) -> int:
        """Threads in the pool of sync handlers (0 without sync entrypoints)."""
        return self._pool_size if self._pool is not None else 0

    def set_concurrency(self, n: int) -> None:
        """Change how many jobs run at once; applies from the next dequeue."""
        if n < 1:
            raise UsageError("concurrency must be at least 1")
        self._concurrency = n
        if self._pool is not None and n > self._pool_size:
            old, self._pool = self._pool, self._make_pool(n)
            old.shutdown(wait=False)
        self._wake.set()
        log.info("concurrency set to %d", n)

    def add_listener(self, callback: Callable[[EngineEvent], None]) -> None:
        self._listeners.append(callback)

    def _emit(self, kind: str, message: str) -> None:
        event = EngineEvent(kind, self._state, message)
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:
                log.exception("engine listener failed")

    def _set_state(self, state: State, detail: str = "") -> None:
        if state == self._state:
            return
        self._state = state
        message = f"worker {self._short_id} {state}" + (f": {detail}" if detail else "")
        log.info("%s", message)
        self._emit("state", message)
        if self._heartbeat is not None:
            self._heartbeat.poke()  # the registry shows the new state at once

    @property
    def _short_id(self) -> str:
        return short_id(self.worker_id)

    def _trouble(self, part: str, exc: BaseException) -> None:
        if part not in self._troubled:
            self._troubled.add(part)
            log.warning("%s connection lost: %s", part, first_line(exc, typed=True))
            self._emit("error", f"{part} connection lost: {first_line(exc, typed=True)}")
        if self._state in ("running", "starting"):
            self._set_state("reconnecting", part)

    def _healthy(self, part: str) -> None:
        self._troubled.discard(part)
        if not self._troubled and self._state == "reconnecting":
            self._set_state("running", "reconnected")

    # --- running ------------------------------------------------------------------------------

    def _work_queries(
        self, conn: psycopg.AsyncConnection[Any], names: ObjectNames
    ) -> WorkerQueries:
        """The work connection's queries: completions keep finished jobs when settings say so."""
        return WorkerQueries(conn, names, keep_finished=self.settings.keep_finished_seconds > 0)

    async def run(self) -> None:
        """Work until stop(): connect, register, take and run jobs, then drain and deregister."""
        if self._state != "stopped":
            raise UsageError("this QueueManager is already running")
        if not self._registry:
            raise UsageError("no entrypoints registered")
        check_timing(self.settings.engine)
        self.stop_reason = None
        self._stop = asyncio.Event()
        self._halt = asyncio.Event()
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._grace = None
        self._troubled.clear()
        self._pauses = PauseState()
        self._control_dirty = True
        self._due_dirty = True
        self._due_at = None
        self._set_state("starting", f"{describe_dsn(self.settings.dsn)}, {self._describe()}")
        suffix = self._short_id
        # Direct, the dequeue has a connection of its own and completions, heartbeats and
        # maintenance another, so a flush and a dequeue overlap, and the hot statements are
        # prepared. Told of a pooler, one connection does it all (statements queue on its
        # lock, each one short) and nothing is prepared.
        #
        # With the lock claim (lanes.py) the lanes take the batches, each on a connection of
        # its own, and the loop's rarer statements (pauses, the stalled scan, the next due
        # time) share the completion connection.
        direct = not self.settings.pooled
        held = self._lock_claim
        complete_link = ReconnectingConnection(
            self.settings,
            f"complete {suffix}" if direct or held else f"worker {suffix}",
            self._work_queries,
            prepared=direct,
        )
        link = (
            ReconnectingConnection(
                self.settings, f"worker {suffix}", self._work_queries, prepared=direct
            )
            if direct and not held
            else complete_link
        )
        self._lanes = (
            Lanes(
                self.settings.engine.lanes,
                lambda i: ReconnectingConnection(
                    self.settings, f"lane {i} {suffix}", self._work_queries, prepared=direct
                ),
                complete_link,
                self.worker_id,
                deadline=self.settings.engine.claim_deadline,
                on_free=self._wake.set,
            )
            if held
            else None
        )
        self._buffer = CompletionBuffer(
            complete_link,
            self.worker_id,
            size=self.settings.engine.flush_size,
            interval=self.settings.engine.flush_interval,
            on_trouble=self._on_flush_trouble,
        )
        heartbeat = Heartbeat(
            complete_link,
            self.settings,
            self._identity,
            self._report,
            on_beat=self._on_beat,
            max_attempts=self.max_attempts(),
            held=self._held,
        )
        self._heartbeat = heartbeat
        # The first heartbeat tells whether this worker holds a LISTEN seat (seats.py). A
        # burst drains what is there and stops: it takes no seat from the long-lived workers.
        willing = self.settings.listen and self._burst is None
        self._seat = Seat(self.settings.engine.listen_seats, willing, self._seat_changed)
        watchdog = LoopWatchdog(
            self.settings,
            self._identity,
            self._report,
            blocker=_blocking_job,
            purpose=f"watchdog {suffix}",
        )
        background: list[asyncio.Task[None]] = []
        if any(not e.is_async for e in self._registry.values()):
            self._pool = self._make_pool(self._concurrency)
        try:
            await link.queries()
            await heartbeat.beat()
            watchdog.start()
            background.append(
                asyncio.create_task(heartbeat.run(self._halt), name="pgqtop heartbeat")
            )
            schedules = {n: e.schedule for n, e in self._registry.items() if e.schedule}
            if schedules:
                scheduler = Scheduler(complete_link, schedules, self._on_scheduled)
                background.append(
                    asyncio.create_task(scheduler.run(self._halt), name="pgqtop schedules")
                )
            self._buffer.start()
            self._set_state("running")
            await self._loop(link)
            await self._drain(heartbeat)
        finally:
            watchdog.stop()
            await self._teardown(background, heartbeat, (link, complete_link))
            self._lanes = None

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking jobs, let running ones finish for `grace` seconds, flush, deregister."""
        if self._state == "stopped":
            return
        self._begin_stop("asked", grace)
        await self._done.wait()

    def _begin_stop(self, reason: StopReason, grace: float | None = None) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self._grace = self.settings.engine.shutdown_grace if grace is None else grace
        self._stop.set()
        self._wake.set()

    def _describe(self) -> str:
        return (
            f"entrypoints {', '.join(self._registry)}; concurrency {self._concurrency}, "
            f"batch {self.settings.engine.batch_size}, {self._claim_text()}"
        )

    @property
    def _lock_claim(self) -> bool:
        """Batches are taken by row locks (lanes.py); a burst always takes by UPDATE."""
        return self.settings.engine.claim == "lock" and self._burst is None

    def _claim_text(self) -> str:
        if self._lock_claim:
            lanes = self.settings.engine.lanes
            return f"lock claim ({lanes} lane{'s' if lanes != 1 else ''})"
        return "update claim"

    def _on_scheduled(self, entrypoint: str, job_id: int) -> None:
        self.counters.scheduled += 1
        self._emit("schedule", f"scheduled run of {entrypoint} enqueued (job {job_id})")

    def _make_pool(self, size: int) -> concurrent.futures.ThreadPoolExecutor:
        self._pool_size = size
        return concurrent.futures.ThreadPoolExecutor(size, thread_name_prefix="pgqtop-job")

    def _identity(self) -> WorkerIdentity:
        from pgqtop import __version__

        host = socket.gethostname()
        return WorkerIdentity(
            id=self.worker_id,
            host=f"{self.worker_name}@{host}" if self.worker_name else host,
            pid=os.getpid(),
            version=__version__,
            entrypoints=list(self._registry),
            concurrency=self._concurrency,
            alive_window=alive_window(self.settings.engine),
        )

    def _report(self) -> WorkerReport:
        c = self.counters
        return WorkerReport(
            job_ids=list(self._tasks),
            in_flight=len(self._tasks),
            processed=c.processed,
            failed=c.failed,
            state=self._state,
            rss_bytes=resident_bytes(),
            hung_threads=len(self._hung),
            wake=self._seat.wake,
        )

    def _held(self) -> list[int]:
        """The jobs this worker still holds: running, or ended with the outcome unwritten.
        A stalled scan never re-takes them (only a look every few seconds pays for this)."""
        held = list(self._tasks)
        if self._buffer is not None:
            held += self._buffer.job_ids()
        return held

    def _on_beat(self, beat: Beat, report: WorkerReport) -> None:
        """Cancel what a console asked to cancel; drain once memory passes max_memory."""
        for job_id in beat.cancel_requested:
            self._interrupt(job_id, _CANCEL)
        if not self._halt.is_set():
            self._seat.placed(beat.ahead)
        limit = self.settings.engine.max_memory
        rss = report.rss_bytes
        if limit is not None and rss is not None and rss > limit and not self._stop.is_set():
            log.warning(
                "resident memory %s is past --max-memory %s: draining, then exiting so that "
                "a supervisor starts a fresh worker",
                describe_size(rss),
                describe_size(limit),
            )
            self._emit("error", f"memory {describe_size(rss)} past {describe_size(limit)}")
            self._begin_stop("memory")

    # --- the loop -----------------------------------------------------------------------------

    def _rooms(self) -> tuple[dict[str, int], int, set[str]]:
        """Room per entrypoint, the batch limit, and the entrypoints held back by their own
        concurrency limit (rather than the global one)."""
        free = self._concurrency - len(self._tasks)
        limit = min(self.settings.engine.batch_size, free)
        rooms: dict[str, int] = {}
        capped: set[str] = set()
        if limit <= 0:
            return rooms, 0, capped
        threads = self._pool_size - self._threads_busy if self._pool is not None else free
        self._thread_starved = False
        for name, entry in self._registry.items():
            room = free
            if entry.concurrency_limit is not None:
                own = entry.concurrency_limit - entry.tally.in_flight
                if own < free:
                    room = own
                    if own <= 0:
                        capped.add(name)
            if not entry.is_async and threads < room:
                # A job handed to a pool with no free thread would wait behind hung ones.
                room = threads
                if threads <= 0:
                    self._thread_starved = True
            if room > 0:
                rooms[name] = room
        if self._hung:
            self._note_saturation(threads)
        return rooms, limit, capped

    def _note_saturation(self, threads: int) -> None:
        """Say once when hung threads leave sync entrypoints no room (_thread_returned says
        when it ends)."""
        if threads <= 0 and not self._saturated:
            self._saturated = True
            jobs = ", ".join(f"{i} ({name})" for i, name in sorted(self._hung.items())[:5])
            log.warning(
                "thread pool saturated: %d of %d threads busy, %d of them still running "
                "handlers whose jobs already ended (timed out or canceled: job %s); sync "
                "entrypoints take no jobs until a thread returns",
                self._threads_busy,
                self._pool_size,
                len(self._hung),
                jobs,
            )

    def _stall_scan(self) -> float:
        """The retry timer when stalled jobs are due for a look, else 0 (the dequeue then skips
        that index walk). A job only stalls after `retry_timer` seconds, so a few looks per
        timer are enough, and a busy worker saves the walk on almost every batch."""
        retry = self.settings.engine.retry_timer
        now = time.monotonic()
        if retry <= 0 or now < self._next_stall_scan:
            return 0.0
        self._next_stall_scan = now + stall_scan_interval(self.settings.engine)
        return retry

    async def _loop(self, link: ReconnectingConnection[WorkerQueries]) -> None:
        max_attempts = self.max_attempts()
        while not self._stop.is_set():
            broken = link
            try:
                if self._control_dirty:
                    self._control_dirty = False
                    await self._refresh_pauses(link)
                rooms, limit, capped = self._rooms()
                if not rooms:
                    await self._idle(global_room=limit <= 0, entrypoints=capped)
                    continue
                self._wake.clear()
                retry = self._stall_scan()
                lanes = None if retry else self._lanes  # a stalled scan takes by UPDATE
                lane = None if lanes is None else lanes.free()
                if lanes is not None and lane is None:
                    # Every lane holds a batch: the first to end wakes the loop.
                    await self._idle(global_room=False, entrypoints=_NOTHING)
                    continue
                if lanes is not None and lane is not None:
                    broken = lane.link
                    jobs = await lane.take(rooms, limit, max_attempts)
                    for job in jobs:
                        lanes.holder[job.id] = lane
                else:
                    queries = await link.queries()
                    held = self._held() if retry else ()
                    jobs = await queries.dequeue(
                        rooms,
                        limit,
                        self.worker_id,
                        retry,
                        max_attempts,
                        held,
                        fresh=self._lanes is None,
                    )
            except DATABASE_ERRORS as exc:
                self._trouble("dequeue", exc)
                self._control_dirty = True
                await broken.broken(exc, self._stop)
                continue
            if self._troubled:
                self._healthy("dequeue")
            self._gate.looked(len(jobs))
            taken: dict[str, int] = {}
            for job in jobs:
                taken[job.entrypoint] = taken.get(job.entrypoint, 0) + 1
                self._dispatch(job)
            more = len(jobs) >= limit
            if lanes is None and self._lanes is not None:
                continue  # that was the stalled scan: the lanes take the due jobs
            if more and len(self._tasks) <= self._concurrency // 2:
                continue
            # Entrypoints that filled their own room may have more waiting: look again as
            # soon as one of their jobs ends.
            capped.update(n for n, r in rooms.items() if taken.get(n, 0) >= r)
            if not more and self._due_dirty and not await self._refresh_due(link):
                continue
            await self._idle(global_room=more, entrypoints=capped)

    async def _refresh_due(self, link: ReconnectingConnection[WorkerQueries]) -> bool:
        """Learn when the earliest delayed job is due (only when going idle, so a busy worker
        pays nothing); False when the connection failed."""
        self._due_dirty = False
        try:
            due = await (await link.queries()).next_due(list(self._registry))
        except DATABASE_ERRORS as exc:
            self._trouble("dequeue", exc)
            self._due_dirty = True
            await link.broken(exc, self._stop)
            return False
        self._due_at = None if due is None else time.monotonic() + due
        return True

    async def _idle(self, *, global_room: bool, entrypoints: set[str]) -> None:
        """Wait for new work (NOTIFY), freed room, a control change, a pause ending, or the
        dequeue timeout, whichever comes first; a burst of wake-ups is one dequeue."""
        if self._burst is not None:
            await self._burst_idle(global_room=global_room, entrypoints=entrypoints)
            return
        timeout = self.settings.engine.dequeue_timeout
        if not self._seat.held:
            # Nothing announces new work: look every poll interval, and read the pauses again
            # now and then since no event says they changed.
            timeout = min(timeout, self.settings.poll_interval)
            now = time.monotonic()
            if now >= self._next_control_read:
                self._next_control_read = now + self.settings.engine.dequeue_timeout
                self._control_dirty = True
        pause_end = self._pauses.seconds_to_change()
        pause_limited = pause_end is not None and pause_end < timeout
        if pause_end is not None:
            timeout = min(timeout, pause_end + 0.01)
        if self._due_at is not None:
            until_due = self._due_at - time.monotonic()
            if until_due < timeout:
                timeout = max(until_due, 0.0) + 0.005
                self._due_dirty = True  # once it is taken, look for the next one
        self._wake_on_room = global_room
        self._wake_for = entrypoints
        deadline = time.monotonic() + timeout
        try:
            while True:
                wait = deadline - time.monotonic()
                deferred = self._gate.seconds_to_look()
                self._deferral.clear()
                if self._wake.is_set():
                    await asyncio.sleep(0)  # yield once all the same: the loop must not spin
                else:
                    await wait_for_any(
                        [self._wake, self._deferral],
                        wait if deferred is None else min(wait, deferred),
                    )
                woken = self._wake.is_set()
                if self._deferral.is_set() and not woken and deferred is None:
                    continue  # a look was deferred meanwhile: wait for its time instead
                if woken or time.monotonic() >= deadline or not self._gate.deferred:
                    break
                if self._gate.seconds_to_look() == 0.0 and self._gate.worth_looking():
                    woken = True  # the quiet time is over and jobs still wait: look
                    break
        finally:
            self._wake_on_room = False
            self._wake_for = _NOTHING
        if not woken and pause_limited:
            self._control_dirty = True

    async def _refresh_pauses(self, link: ReconnectingConnection[WorkerQueries]) -> None:
        queries = await link.queries()
        before = set(self._pauses.paused)
        self._pauses.update(await queries.paused(), self._registry)
        after = set(self._pauses.paused)
        if before != after:
            names = ", ".join(sorted(after)) or "nothing"
            self._emit("paused", f"paused: {names}")

    # --- jobs ---------------------------------------------------------------------------------

    def _dispatch(self, job: Job) -> None:
        entry = self._registry.get(job.entrypoint)
        if entry is None:  # only possible after keep_only() raced a dequeue; leave it to others
            return
        if job.id in self._tasks:  # still ours and running: one run, one count
            return
        entry.tally.taken += 1
        entry.tally.in_flight += 1
        self.counters.taken += 1
        self.counters.in_flight += 1
        task = asyncio.get_running_loop().create_task(self._execute(job, entry))
        self._tasks[job.id] = task
        if not entry.is_async:
            self._threads_busy += 1  # counted now: the next look at the rooms sees it taken
        elif entry.timeout is not None:
            self._arm_timeout(job.id, entry.timeout)

    def _arm_timeout(self, job_id: int, seconds: float) -> None:
        """A sync job's clock starts when its thread starts it (see _run_in_thread)."""
        if job_id in self._tasks:
            self._timers[job_id] = asyncio.get_running_loop().call_later(
                seconds, self._interrupt, job_id, _TIMEOUT
            )

    def _interrupt(self, job_id: int, reason: str) -> None:
        task = self._tasks.get(job_id)
        if task is not None and not task.done() and job_id not in self._cancel_reasons:
            self._cancel_reasons[job_id] = reason
            task.cancel()

    async def _execute(self, job: Job, entry: Entrypoint) -> None:
        started = time.perf_counter()
        outcome: Outcome | None
        try:
            if entry.is_async:
                await entry.handler(job)
            else:
                await self._run_in_thread(job, entry)
            outcome = Outcome(job.id, Status.SUCCESSFUL, time.perf_counter() - started)
        except BaseException as exc:  # a handler's failure of any kind is the job's outcome
            outcome = self._failure(job, entry, exc, time.perf_counter() - started)
        finally:
            # Both maps are empty for almost every job: skip the lookups then (hot path).
            if self._cancel_reasons:
                self._cancel_reasons.pop(job.id, None)
            if entry.timeout is not None:
                timer = self._timers.pop(job.id, None)
                if timer is not None:
                    timer.cancel()
        self._finish(job, entry, outcome)

    async def _run_in_thread(self, job: Job, entry: Entrypoint) -> None:
        """Run a sync handler on a pool thread (counted busy by _dispatch). A thread that is
        still running when its job ends (timed out, canceled, shut down) counts as hung until
        it returns."""
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        if entry.timeout is None:
            future = self._pool.submit(entry.handler, job)
        else:
            future = self._pool.submit(_timed, loop, self._arm_timeout, entry, job)
        try:
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future.cancel() or future.done():  # it never started, or it just returned
                self._thread_returned(None)
            else:
                self._hung[job.id] = entry.name
                future.add_done_callback(
                    lambda _: _call_on_loop(loop, self._thread_returned, job.id)
                )
            raise
        except BaseException:
            self._thread_returned(None)
            raise
        self._threads_busy -= 1
        if self._thread_starved:
            self._wake.set()

    def _thread_returned(self, hung_job: int | None) -> None:
        self._threads_busy -= 1
        if hung_job is not None and self._hung.pop(hung_job, None) is not None:
            log.info("the thread of job %d returned; %d still hung", hung_job, len(self._hung))
            if self._saturated:
                self._saturated = False
                log.info("thread pool has room again")
        self._wake.set()

    def _failure(
        self, job: Job, entry: Entrypoint, exc: BaseException, seconds: float
    ) -> Outcome | None:
        reason = self._cancel_reasons.get(job.id)
        text = traceback.format_exc()
        if reason == _SHUTDOWN:
            return None  # left picked: another worker re-takes it after the retry timer
        if reason == _CANCEL:
            return Outcome(job.id, Status.CANCELED, seconds, "canceled on request", text)
        if reason == _TIMEOUT:
            error = f"timed out after {entry.timeout:g}s"
            if not entry.is_async:
                log.warning("job %d (%s) %s; its thread runs on", job.id, entry.name, error)
        else:
            error = first_line(exc, typed=True)
        delay = entry.retry.delay(job.attempts) if entry.retry is not None else None
        if isinstance(exc, PayloadInvalid):
            delay = None  # the same payload would fail the same way: no retries
        if delay is not None:
            return Outcome(job.id, Status.EXCEPTION, seconds, error, text, retry_in=delay)
        return Outcome(job.id, Status.EXCEPTION, seconds, error, text)

    def _finish(self, job: Job, entry: Entrypoint, outcome: Outcome | None) -> None:
        if self._tasks.pop(job.id, None) is None:
            return  # ended after the worker stopped: its count was reset, its job left picked
        tally, totals = entry.tally, self.counters
        tally.in_flight -= 1
        totals.in_flight -= 1
        # A job inside a lock-held batch ends into its lane (without an outcome: stopped, it
        # goes back to the queue with the batch's commit); any other into the buffer.
        lane = self._lanes.holder.pop(job.id, None) if self._lanes is not None else None
        if outcome is None and lane is not None:
            lane.ended(job.id, None)
        if outcome is not None:
            tally.run_seconds += outcome.run_seconds
            totals.run_seconds += outcome.run_seconds
            if outcome.status is Status.SUCCESSFUL:
                tally.succeeded += 1
                totals.succeeded += 1
            elif outcome.status is Status.CANCELED:
                tally.canceled += 1
                totals.canceled += 1
            elif outcome.retry_in is not None:
                tally.retried += 1
                totals.retried += 1
            else:
                tally.failed += 1
                totals.failed += 1
            if lane is not None:
                lane.ended(job.id, outcome)
            else:
                assert self._buffer is not None
                self._buffer.add(outcome)
            if self._outcome_listeners:
                self._tell_outcome(job, outcome)
        if (self._wake_on_room and len(self._tasks) <= self._concurrency // 2) or (
            entry.name in self._wake_for
        ):
            self._wake.set()
        if not self._tasks and self._stop.is_set():
            self._wake.set()

    # --- events -------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.op == "cancel":
            # Anyone may NOTIFY: the request itself is read from the database, by an early
            # heartbeat, and only for jobs we hold.
            if self._heartbeat is not None and any(i in self._tasks for i in event.job_ids):
                self._heartbeat.poke()
        elif event.op in ("pause", "resume", "control"):
            self._control_dirty = True
            self._wake.set()
        elif event.overflow:
            self._due_dirty = True
            self._wake.set()
        else:
            queued = sum(
                delta.get("queued", 0)
                for name, delta in event.changes.items()
                if name in self._registry
            )
            if queued > 0:
                self._due_dirty = True  # the new jobs may be delayed ones (or retries)
            deferred = self._gate.deferred
            if self._gate.notified(queued):
                self._wake.set()
            elif self._gate.deferred and not deferred:
                self._deferral.set()  # an idle loop waits for the deferred look's time

    def _seat_changed(self, held: bool) -> None:
        """Take up a LISTEN seat (a connection that listens) or give it up (back to polling)."""
        if held:
            self._listen_stop = asyncio.Event()
            listener = Listener(
                self.settings,
                self._on_event,
                self._on_listener,
                purpose=f"listen {self._short_id}",
                channel=self.settings.names.work_channel,
            )
            task = asyncio.create_task(listener.run(self._listen_stop), name="pgqtop listen")
            self._listen_tasks.add(task)
            task.add_done_callback(self._listen_tasks.discard)
            log.info("holding a LISTEN seat: new work arrives by notification")
        else:
            self._listen_stop.set()
            self._healthy("listen")  # a channel given up is not a channel in trouble
            log.info(
                "on standby: %d workers ahead of this one hold the listen seats; looking every %gs",
                self._seat.seats,
                self.settings.poll_interval,
            )
        self._wake.set()  # the idle wait's timeout changes either way

    async def _stop_listening(self) -> None:
        self._listen_stop.set()
        await asyncio.gather(*self._listen_tasks, return_exceptions=True)

    def _on_listener(self, connected: bool) -> None:
        if not self._seat.held:
            return  # the seat was given up: this is its connection closing
        if connected:
            self._healthy("listen")
            # Notifications sent while we were away are lost: look once, and re-read pauses.
            self._control_dirty = True
            self._due_dirty = True
            self._wake.set()
        elif not self._halt.is_set():
            self._trouble("listen", ConnectionError("notification channel down"))

    def _on_flush_trouble(self, failing: bool) -> None:
        if failing:
            self._trouble("complete", ConnectionError("completion flush failed"))
        elif "complete" in self._troubled:
            self._healthy("complete")

    # --- outcomes and burst mode ------------------------------------------------------------------

    def add_outcome_listener(self, callback: Callable[[Job, Outcome], None]) -> None:
        """Call `callback(job, outcome)` on the event loop as each attempt ends (keep it
        cheap: it runs once per job)."""
        self._outcome_listeners.append(callback)

    def remove_outcome_listener(self, callback: Callable[[Job, Outcome], None]) -> None:
        if callback in self._outcome_listeners:
            self._outcome_listeners.remove(callback)

    def _tell_outcome(self, job: Job, outcome: Outcome) -> None:
        for callback in list(self._outcome_listeners):
            try:
                callback(job, outcome)
            except Exception:
                log.exception("outcome listener failed")

    async def run_burst(self, *, on_empty: OnEmpty | None = None) -> BurstResult:
        """Take every job due now, and what becomes due while jobs still run (jobs handlers
        enqueue, retries whose delay ends), run them, write their outcomes, and stop at the
        first look that finds nothing due (engine/burst.py). `on_empty` is asked at that
        moment; when it returns True (it made jobs due) the burst looks again."""
        before = dataclasses.replace(self.counters, by_entrypoint={})
        watch = BurstWatch(on_empty)

        def track(job: Job, outcome: Outcome) -> None:
            if outcome.retry_in is None:
                watch.retrying.discard(job.id)
            else:
                watch.retrying.add(job.id)

        self._burst = watch
        self.add_outcome_listener(track)
        try:
            await self.run()
        finally:
            self._burst = None
            self.remove_outcome_listener(track)
        after = self.counters
        return BurstResult(
            taken=after.taken - before.taken,
            succeeded=after.succeeded - before.succeeded,
            failed=after.failed - before.failed,
            retried=after.retried - before.retried,
            canceled=after.canceled - before.canceled,
            retries_waiting=len(watch.retrying),
            paused_left=await self._paused_due(),
            interrupted=self._grace is not None,
        )

    async def _burst_idle(self, *, global_room: bool, entrypoints: set[str]) -> None:
        """A burst's idle: while jobs run, wait for a wake-up (as a worker does) or for the
        last of them to end; with none running, wait until every outcome is written, then
        let the loop look once more; a second look in a row that takes nothing ends it."""
        watch = self._burst
        assert watch is not None
        if self._tasks:
            watch.settled = False
            await self._burst_wait(list(self._tasks.values()), global_room, entrypoints)
            return
        await self._burst_settle()
        if watch.settled and self.counters.taken == watch.taken_when_settled:
            if watch.on_empty is not None and await watch.on_empty():
                watch.settled = False
                return
            self._stop.set()
            return
        watch.settled = True
        watch.taken_when_settled = self.counters.taken

    async def _burst_wait(
        self, running: list[asyncio.Task[None]], global_room: bool, entrypoints: set[str]
    ) -> None:
        everything = asyncio.ensure_future(asyncio.wait(running))
        woken = asyncio.ensure_future(self._wake.wait())
        self._wake_on_room = global_room
        self._wake_for = entrypoints
        try:
            await asyncio.wait(
                (everything, woken),
                timeout=self.settings.engine.dequeue_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            self._wake_on_room = False
            self._wake_for = _NOTHING
            everything.cancel()
            woken.cancel()

    async def _burst_settle(self) -> None:
        """Wait until the completion buffer has written every outcome (retries are then back
        in the queue, due or not), or a stop. The buffer announces no such moment, so this
        looks every few milliseconds; it runs only when a burst has nothing running."""
        pause = min(max(self.settings.engine.flush_interval, 0.001), 0.01)
        while self._buffer is not None and len(self._buffer):
            if await wait_for_event(self._stop, pause):
                return

    async def _paused_due(self) -> dict[str, int]:
        """Due jobs a pause held back, per entrypoint (one short connection)."""
        conn = await connect_async(self.settings, f"burst {self._short_id}")
        async with conn:
            return await WorkerQueries(conn, self.settings.names).paused_due(list(self._registry))

    # --- stopping -----------------------------------------------------------------------------

    async def _drain(self, heartbeat: Heartbeat) -> None:
        grace = self.settings.engine.shutdown_grace if self._grace is None else self._grace
        running = list(self._tasks.values())
        self._set_state("draining", f"{len(running)} jobs running, grace {grace:g}s")
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            if pending:
                log.warning(
                    "%d jobs still running after %gs: left for the retry timer",
                    len(pending),
                    grace,
                )
                for job_id in list(self._tasks):
                    self._interrupt(job_id, _SHUTDOWN)
                await asyncio.wait(pending, timeout=1.0)

    async def _teardown(
        self,
        background: list[asyncio.Task[None]],
        heartbeat: Heartbeat,
        links: tuple[ReconnectingConnection[WorkerQueries], ...],
    ) -> None:
        try:
            for job_id in list(self._tasks):
                self._interrupt(job_id, _SHUTDOWN)
            if self._lanes is not None:
                await asyncio.sleep(0)  # the interrupted jobs hand their lanes what they hold
                await self._lanes.close(_FLUSH_ON_STOP_TIMEOUT)
            if self._buffer is not None:
                await self._buffer.close(_FLUSH_ON_STOP_TIMEOUT)
            self._halt.set()
            heartbeat.poke()
            await asyncio.gather(*background, self._stop_listening(), return_exceptions=True)
            if heartbeat.beats:
                await heartbeat.deregister()
        finally:
            for link in links:
                await link.close()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            self._tasks.clear()
            self._timers.clear()
            self.counters.in_flight = 0
            for entry in self._registry.values():
                entry.tally.in_flight = 0
            self._heartbeat = None
            self._set_state("stopped")
            self._done.set()


def _call_on_loop(
    loop: asyncio.AbstractEventLoop, callback: Callable[[int], None], job_id: int
) -> None:
    """From a pool thread: run `callback(job_id)` on the loop, unless the loop is gone (a hung
    thread that returns after its worker stopped)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, job_id)


def _timed(
    loop: asyncio.AbstractEventLoop,
    arm: Callable[[int, float], None],
    entry: Entrypoint,
    job: Job,
) -> Any:
    """Runs on the pool thread: start the job's clock now, then the handler."""
    assert entry.timeout is not None
    seconds = entry.timeout
    loop.call_soon_threadsafe(arm, job.id, seconds)
    return entry.handler(job)


def _blocking_job(frame: FrameType | None) -> str:
    """Which job's handler a stack (of the event loop's thread) is in, for the watchdog."""
    while frame is not None:
        if frame.f_code is QueueManager._execute.__code__:
            job = frame.f_locals.get("job")
            if isinstance(job, Job):
                return f"job {job.id} ({job.entrypoint})"
        frame = frame.f_back
    return "code outside any handler"
