"""A queue for a test: enqueue jobs, drain them with burst mode, and get back how every
attempt went, without sleeping through retry delays."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import psycopg

from pgqtop.config import Settings
from pgqtop.db.connection import connect_async, connect_sync
from pgqtop.db.producer import Queries, SyncQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.factory import apply_factory
from pgqtop.engine.manager import QueueManager
from pgqtop.engine.payloads import typed_handler
from pgqtop.errors import UsageError
from pgqtop.model import Job, Outcome, PayloadLike, Status
from pgqtop.testing.report import Attempt, AttemptStatus, DrainResult, JobReport

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")

Factory = Callable[[QueueManager], Any] | str
"""What registers the handlers: your factory function (sync or async), or "module:function"
as `--factory` takes it."""

DEFAULT_LIMIT = 10_000
"""Attempts after which a drain gives up (a handler that enqueues itself forever)."""


class RecordingManager(QueueManager):
    """A QueueManager that keeps what each handler raised, per job and attempt, so a test can
    look at the exception itself rather than its text."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, worker_name="pgqtop.testing")
        self.raised: dict[tuple[int, int], BaseException] = {}

    def entrypoint(
        self, name: str, *, payload: type[Any] | None = None, **options: Any
    ) -> Callable[[F], F]:
        register = super().entrypoint(name, **options)

        def wrap(function: F) -> F:
            is_async = _is_async(function)
            handler: Callable[..., Any] = function
            if payload is not None:
                handler = typed_handler(name, function, payload, is_async=is_async)
            register(self._recording(handler, is_async))
            return function

        return wrap

    def _recording(self, handler: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
        raised = self.raised
        if is_async:

            async def run_async(job: Job, *args: Any) -> Any:
                try:
                    return await handler(job, *args)
                except BaseException as exc:
                    raised[(job.id, job.attempts)] = exc
                    raise

            return run_async

        def run(job: Job, *args: Any) -> Any:
            try:
                return handler(job, *args)
            except BaseException as exc:
                raised[(job.id, job.attempts)] = exc
                raise

        return run


def _is_async(function: Callable[..., Any]) -> bool:
    call = getattr(function, "__call__", None)  # noqa: B004 - async callable objects
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


def _attempt_status(outcome: Outcome) -> AttemptStatus:
    if outcome.status is Status.SUCCESSFUL:
        return "succeeded"
    if outcome.status is Status.CANCELED:
        return "canceled"
    return "failed" if outcome.retry_in is None else "retried"


class Harness:
    """One test's queue (its own prefix): `enqueue`, then `drain` your factory's handlers.

    The sync methods suit plain test functions; in an `async def` test use the `a`-prefixed
    twins (`aenqueue`, `adrain`, `arun`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: psycopg.Connection[Any] | None = None

    def close(self) -> None:
        """Close the connection `enqueue` keeps (the fixture does this after the test)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _producer(self) -> SyncQueries:
        if self._conn is None or self._conn.closed:
            self._conn = connect_sync(self.settings, "test enqueue")
        return SyncQueries(self._conn, self.settings.names, self.settings.max_payload_bytes)

    # --- enqueue ------------------------------------------------------------------------------

    def enqueue(
        self,
        entrypoint: str,
        payload: PayloadLike = None,
        priority: int = 0,
        *,
        execute_after: float = 0.0,
        headers: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> int:
        """Add one job (a payload may be bytes, text, a dict, a dataclass or a pydantic model);
        returns its id."""
        (job_id,) = self._producer().enqueue(
            entrypoint,
            payload,
            priority,
            headers=headers,
            execute_after=execute_after,
            dedupe_key=dedupe_key,
        )
        return job_id

    async def aenqueue(
        self,
        entrypoint: str,
        payload: PayloadLike = None,
        priority: int = 0,
        *,
        execute_after: float = 0.0,
        headers: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> int:
        conn = await connect_async(self.settings, "test enqueue")
        async with conn:
            queries = Queries(conn, self.settings.names, self.settings.max_payload_bytes)
            (job_id,) = await queries.enqueue(
                entrypoint,
                payload,
                priority,
                headers=headers,
                execute_after=execute_after,
                dedupe_key=dedupe_key,
            )
        return job_id

    # --- drain --------------------------------------------------------------------------------

    def drain(
        self, factory: Factory, *, fast_forward_retries: bool = True, limit: int = DEFAULT_LIMIT
    ) -> DrainResult:
        """Run every job due now with the handlers `factory` registers (burst mode), and what
        they enqueue, and return how each attempt went. With `fast_forward_retries` a retry is
        made due at once instead of after its delay (the delay is still reported), so a job
        runs until it succeeds or its retries are used up; otherwise it is left `waiting`."""
        return self._sync(
            self.adrain(factory, fast_forward_retries=fast_forward_retries, limit=limit)
        )

    async def adrain(
        self, factory: Factory, *, fast_forward_retries: bool = True, limit: int = DEFAULT_LIMIT
    ) -> DrainResult:
        manager = await self._manager(factory)
        reports: dict[int, JobReport] = {}
        runaway: list[asyncio.Task[None]] = []

        def record(job: Job, outcome: Outcome) -> None:
            report = reports.get(job.id)
            if report is None:
                report = reports[job.id] = JobReport(job.id, job.entrypoint, job.payload)
            exception = manager.raised.pop((job.id, job.attempts), None)
            if outcome.status is Status.SUCCESSFUL:
                exception = None
            report.attempts.append(
                Attempt(
                    job.attempts,
                    _attempt_status(outcome),
                    outcome.run_seconds,
                    outcome.error,
                    outcome.traceback,
                    exception,
                    outcome.retry_in,
                )
            )
            if manager.counters.processed >= limit and not runaway:
                runaway.append(asyncio.get_running_loop().create_task(manager.stop(grace=1.0)))

        async def make_retries_due() -> bool:
            if not fast_forward_retries:
                return False
            waiting = [r.job_id for r in reports.values() if r.status == "waiting"]
            if not waiting:
                return False
            conn = await connect_async(self.settings, "test fast-forward")
            async with conn:
                moved = await WorkerQueries(conn, self.settings.names).make_due(waiting)
            return bool(moved)

        manager.add_outcome_listener(record)
        burst = await manager.run_burst(on_empty=make_retries_due)
        await asyncio.gather(*runaway)
        if runaway:
            raise AssertionError(f"drain stopped after {limit} attempts: do jobs enqueue jobs?")
        return DrainResult(dict(sorted(reports.items())), burst)

    def run(
        self, factory: Factory, entrypoint: str, payload: PayloadLike = None, **options: Any
    ) -> JobReport:
        """Enqueue one job, drain, and return that job's report."""
        job_id = self.enqueue(entrypoint, payload, **options)
        return self.drain(factory)[job_id]

    async def arun(
        self, factory: Factory, entrypoint: str, payload: PayloadLike = None, **options: Any
    ) -> JobReport:
        job_id = await self.aenqueue(entrypoint, payload, **options)
        return (await self.adrain(factory))[job_id]

    # --- helpers ------------------------------------------------------------------------------

    async def _manager(self, factory: Factory) -> RecordingManager:
        manager = RecordingManager(self.settings)
        if isinstance(factory, str):
            await apply_factory(factory, manager)
            return manager
        result = factory(manager)
        if inspect.isawaitable(result):
            await result
        if not manager.entrypoints:
            raise UsageError(f"{factory!r} registered no entrypoints")
        return manager

    @staticmethod
    def _sync(coroutine: Coroutine[Any, Any, R]) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        coroutine.close()
        raise RuntimeError(
            "an event loop is running here: in an async test use `await pgqtop_queue.adrain()`"
            " (and aenqueue, arun)"
        )
