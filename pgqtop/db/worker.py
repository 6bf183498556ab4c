"""The worker's side: take a batch, finish a batch, beat and leave, keep the tables trim, and
claim the runs of scheduled entrypoints.

Dequeue and completion run once per batch at full speed: their rows and parameters are built
positionally, with no per-job work beyond what a Job and an outcome need.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg

from pgqtop.config import ObjectNames
from pgqtop.db.rows import (
    Beat,
    CompletionResult,
    HistoryClaim,
    LostJob,
    WorkerIdentity,
    WorkerReport,
    picked_job_from_row,
)
from pgqtop.db.session import FleetReads, pipeline_lock
from pgqtop.db.statements import Positional
from pgqtop.db.statements.burst import burst_statements
from pgqtop.db.statements.worker import worker_statements
from pgqtop.model import Job, Outcome, Status


def once_per_job(outcomes: Sequence[Outcome]) -> Sequence[Outcome]:
    """The first outcome of each job. A job is counted once, by the completion that deletes
    its row; two outcomes of one job in one flush (the job ran again after a reconnect) would
    otherwise both join that row. One set per flush finds out; a copy is made only then."""
    if len({o.job_id for o in outcomes}) == len(outcomes):
        return outcomes
    first: dict[int, Outcome] = {}
    for outcome in outcomes:
        first.setdefault(outcome.job_id, outcome)
    return list(first.values())


def int_array(values: Iterable[int]) -> str:
    """An integer array literal ('{1,2,3}'), cast by the statement: the driver builds a binary
    array element by element in Python, which cost more than the rest of a completion's
    parameters together; the server parses this text in a fraction of that."""
    return "{" + ",".join(map(str, values)) + "}"


def float_array(values: Iterable[float]) -> str:
    """A float8 array literal; repr keeps every digit (and writes inf and nan as PostgreSQL
    reads them)."""
    return "{" + ",".join(map(repr, values)) + "}"


def _plain(outcomes: Sequence[Outcome]) -> bool:
    """Every outcome a success with nothing to say: statuses and texts need not be sent."""
    return all(o.status is Status.SUCCESSFUL and not o.error and not o.traceback for o in outcomes)


def _split(outcomes: Sequence[Outcome]) -> tuple[list[Outcome], list[Outcome]]:
    """One outcome per job, split into the finished and the retried."""
    outcomes = once_per_job(outcomes)
    return (
        [o for o in outcomes if o.retry_in is None],
        [o for o in outcomes if o.retry_in is not None],
    )


def complete_parameters(
    outcomes: Sequence[Outcome], worker: uuid.UUID, *, keep_finished: bool = True
) -> dict[str, Any]:
    """Finished and retried outcomes as separate column arrays, one unnest each; a batch of
    plain successes sends only its ids and run times (see complete_statement)."""
    return _columns(*_split(outcomes), worker, keep_finished)


def _columns(
    done: Sequence[Outcome], retry: Sequence[Outcome], worker: uuid.UUID, keep_finished: bool
) -> dict[str, Any]:
    """The completion's parameters from outcomes already split (_split), for both forms."""
    plain = _plain(done)
    return {
        "done_ids": int_array(o.job_id for o in done),
        "done_statuses": None if plain else [o.status.value for o in done],
        "done_run_seconds": float_array(o.run_seconds for o in done),
        "done_errors": None if plain else [o.error for o in done],
        "done_tracebacks": None if plain else [o.traceback for o in done],
        "retry_ids": int_array(o.job_id for o in retry),
        "retry_in": float_array(o.retry_in for o in retry if o.retry_in is not None),
        "retry_errors": [o.error for o in retry],
        "retry_tracebacks": [o.traceback for o in retry],
        "worker": worker,
        "keep_finished": keep_finished,
    }


def complete_held_parameters(
    outcomes: Sequence[Outcome],
    attempts: Mapping[int, int] | None,
    running: Sequence[int],
    absorbed: Sequence[int],
    worker: uuid.UUID,
    lane: int,
    *,
    keep_finished: bool = True,
) -> dict[str, Any]:
    """A lock-held batch's end: its outcomes, the jobs still running to mark picked, and the
    lost attempts it counted. `attempts` (job id -> attempt) is needed only when the take
    counted lost attempts; otherwise every job's attempt is its stored count plus one."""
    done, retry = _split(outcomes)
    params = _columns(done, retry, worker, keep_finished)
    if attempts is None:
        params["done_attempts"] = params["retry_attempts"] = None
    else:
        params["done_attempts"] = int_array(attempts[o.job_id] for o in done)
        params["retry_attempts"] = int_array(attempts[o.job_id] for o in retry)
    params["running_ids"] = int_array(running)
    params["running_attempts"] = (
        None if attempts is None else int_array(attempts[i] for i in running)
    )
    params["absorbed"] = int_array(absorbed)
    params["lane"] = lane
    return params


def heartbeat_parameters(identity: WorkerIdentity, report: WorkerReport) -> dict[str, Any]:
    return {
        "ids": list(report.job_ids),
        "worker": identity.id,
        "host": identity.host,
        "pid": identity.pid,
        "version": identity.version,
        "entrypoints": identity.entrypoints,
        "concurrency": identity.concurrency,
        "in_flight": report.in_flight,
        "processed": report.processed,
        "failed": report.failed,
        "state": report.state,
        "rss_bytes": report.rss_bytes,
        "hung_threads": report.hung_threads,
        "wake": report.wake,
        "alive": identity.alive_window,
    }


def beat_from_thread(
    conn: psycopg.Connection[Any],
    names: ObjectNames,
    identity: WorkerIdentity,
    report: WorkerReport,
) -> Beat:
    """The heartbeat on a sync connection, for a thread beating while the event loop cannot
    (a handler blocks it)."""
    statement = worker_statements(names).heartbeat
    row = conn.execute(statement, heartbeat_parameters(identity, report)).fetchone()
    assert row is not None
    return beat_from_row(row)


def beat_from_row(row: Sequence[Any]) -> Beat:
    """The heartbeat statement's one row: jobs beaten, cancel requests, workers ahead."""
    return Beat(int(row[0]), list(row[1]), int(row[2]))


class WorkerQueries(FleetReads):
    """A worker's statements on one async autocommit connection."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        names: ObjectNames | None = None,
        *,
        keep_finished: bool = True,
    ) -> None:
        super().__init__(conn, names)
        self.worker_sql = worker_statements(self.names)
        self.keep_finished = keep_finished
        """Whether a completion also writes each finished job's row to the finished table."""

    async def dequeue(
        self,
        rooms: dict[str, int],
        batch_size: int,
        worker: uuid.UUID,
        retry_seconds: float,
        max_attempts: Mapping[str, int] | None = None,
        held: Sequence[int] = (),
        *,
        fresh: bool = True,
    ) -> list[Job]:
        """Take up to batch_size jobs, at most rooms[e] of entrypoint e; marks them picked.
        With retry_seconds, also re-take jobs whose heartbeat is that old, except those the
        worker still holds (`held`: running, or their outcome not yet written) and those
        taken max_attempts[e] times already (see give_up_lost). Without `fresh`, only such
        stalled jobs (a lock-claiming worker takes due jobs in its lanes)."""
        scan = bool(retry_seconds)
        params = {
            "entrypoints": list(rooms),
            "rooms": list(rooms.values()),
            "caps": [max_attempts.get(n) for n in rooms] if scan and max_attempts else None,
            "held": list(held) if scan else None,
            "batch": batch_size,
            "worker": worker,
            "retry_seconds": retry_seconds,
            "fresh": fresh,
        }
        # Binary results: timestamps decode faster than from text, per job taken.
        cur = await self.conn.execute(self.worker_sql.dequeue, params, binary=True)
        jobs = [picked_job_from_row(r, worker) for r in await cur.fetchall()]
        jobs.sort(key=lambda j: (-j.priority, j.id))
        return jobs

    async def complete(self, outcomes: Sequence[Outcome], worker: uuid.UUID) -> CompletionResult:
        """Finish a batch: delete what ended, requeue retries, record failures and statistics;
        only jobs this worker still holds are touched."""
        params = complete_parameters(outcomes, worker, keep_finished=self.keep_finished)
        row = await self._positional(self.worker_sql.complete, params)
        return CompletionResult(row[0], row[1], row[2])

    async def _positional(self, statement: Positional, params: Mapping[str, Any]) -> Any:
        """The one row of a long statement in numbered form (statements.Positional)."""
        async with pipeline_lock(self.conn):
            return await self._positional_row(statement, params)

    async def _positional_row(self, statement: Positional, params: Mapping[str, Any]) -> Any:
        """As _positional, for a caller that already holds the pipeline lock."""
        cur = psycopg.AsyncRawCursor(self.conn)
        await cur.execute(statement.query, statement.params(params))
        return await cur.fetchone()

    # --- the lock claim (engine/lanes.py) ---------------------------------------------------------

    async def claim_held(
        self, rooms: dict[str, int], batch_size: int, worker: uuid.UUID
    ) -> list[tuple[Job, int]]:
        """Open a transaction and take up to batch_size due jobs in it by row locks, at most
        rooms[e] of entrypoint e, writing nothing; each job with the attempts lost with dead
        holders. The transaction stays open: finish_held or rollback ends it. One round trip."""
        params = {
            "entrypoints": list(rooms),
            "rooms": list(rooms.values()),
            "caps": None,
            "batch": batch_size,
        }
        sql_ = self.worker_sql
        async with pipeline_lock(self.conn):
            await self.conn.execute(sql_.begin)
            cur = await self.conn.execute(sql_.claim_held, params, binary=True)
            found = await cur.fetchall()
        taken = [(picked_job_from_row(r[:10], worker), int(r[10])) for r in found]
        taken.sort(key=lambda t: (-t[0].priority, t[0].id))
        return taken

    async def record_claim(self, worker: uuid.UUID, lane: int, ids: Sequence[int]) -> None:
        """Name the jobs `lane` now holds, committed at once (see RECORD_CLAIM)."""
        params = {
            "worker": worker,
            "lane": lane,
            "ids": int_array(ids),
            "lo": min(ids) if ids else None,
            "hi": max(ids) if ids else None,
        }
        async with pipeline_lock(self.conn):
            await self.conn.execute(self.worker_sql.record_claim, params)

    async def finish_held(
        self,
        outcomes: Sequence[Outcome],
        attempts: Mapping[int, int] | None,
        running: Sequence[int],
        absorbed: Sequence[int],
        worker: uuid.UUID,
        lane: int,
    ) -> CompletionResult:
        """End a lock-held batch and commit: the completion of its ended jobs, the running
        ones marked picked, its lane's row emptied (complete_held_parameters)."""
        params = complete_held_parameters(
            outcomes,
            attempts,
            running,
            absorbed,
            worker,
            lane,
            keep_finished=self.keep_finished,
        )
        sql_ = self.worker_sql
        async with pipeline_lock(self.conn):
            row = await self._positional_row(sql_.complete_held, params)
            await self.conn.execute(sql_.commit)
        assert row is not None
        return CompletionResult(row[0], row[1], row[2])

    async def end_held(self) -> None:
        """End a lock-held batch with nothing to write (an empty take): its locks go."""
        async with pipeline_lock(self.conn):
            await self.conn.execute(self.worker_sql.commit)

    async def rollback(self) -> None:
        """Give back a lock-held batch untouched: its jobs are queued again for anyone."""
        async with pipeline_lock(self.conn):
            await self.conn.execute(self.worker_sql.rollback)

    async def heartbeat(
        self,
        identity: WorkerIdentity,
        job_ids: Sequence[int],
        *,
        in_flight: int,
        processed: int,
        failed: int,
        state: str = "running",
    ) -> int:
        """Keep the running jobs and the registry row alive; returns how many jobs beat."""
        report = WorkerReport(job_ids, in_flight, processed, failed, state)
        return (await self.beat(identity, report)).beaten

    async def beat(self, identity: WorkerIdentity, report: WorkerReport) -> Beat:
        """One heartbeat: the held jobs and the registry row; returns the cancel requests."""
        row = await self._tuple(self.worker_sql.heartbeat, heartbeat_parameters(identity, report))
        return beat_from_row(row)

    async def give_up_lost(
        self,
        max_attempts: Mapping[str, int],
        worker: uuid.UUID,
        retry_seconds: float,
        held: Sequence[int] = (),
        limit: int = 100,
    ) -> list[LostJob]:
        """Finish as final failures the stalled jobs (heartbeat older than retry_seconds, not
        `held` by this worker) already taken max_attempts[e] times; returns them."""
        names = sorted(max_attempts)
        found = await self._tuples(
            self.worker_sql.give_up_lost,
            {
                "entrypoints": names,
                "caps": [max_attempts[n] for n in names],
                "worker": worker,
                "retry_seconds": retry_seconds,
                "held": list(held),
                "limit": limit,
            },
        )
        return [LostJob(int(r[0]), str(r[1]), str(r[2])) for r in found]

    async def deregister(self, worker: uuid.UUID) -> None:
        await self.conn.execute(self.worker_sql.deregister, {"worker": worker})

    async def next_due(self, entrypoints: Sequence[str]) -> float | None:
        """Seconds until the earliest delayed queued job of these entrypoints; None if none."""
        row = await self._tuple(self.worker_sql.next_due, {"entrypoints": list(entrypoints)})
        return None if row[0] is None else max(float(row[0]), 0.0)

    async def prune(
        self, failure_seconds: float, failure_rows: int, statistics_seconds: float
    ) -> tuple[int, int, int, int]:
        """Drop old failures, statistics, expired pauses and long-gone workers; the counts."""
        row = await self._tuple(
            self.worker_sql.prune,
            {
                "failure_seconds": failure_seconds,
                "failure_rows": failure_rows,
                "statistics_seconds": statistics_seconds,
            },
        )
        return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    async def prune_finished(self, seconds: float, rows: int, chunk: int = 50_000) -> int:
        """Drop up to `chunk` finished jobs older than `seconds` or more than `rows` ids below
        the last id issued; returns how many went (`chunk` means there may be more)."""
        params = {
            "seconds": seconds,
            "rows": rows,
            "chunk": chunk,
            "jobs_table": self.worker_sql.jobs_table,
        }
        row = await self._tuple(self.worker_sql.prune_finished, params)
        return int(row[0])

    async def vacuum_jobs_if_needed(self, min_dead: int = 20_000) -> bool:
        """Vacuum the jobs table when autovacuum is off and dead rows pile up; True if it did.
        SKIP_LOCKED lets one worker do it while the others pass."""
        params = {"min_dead": min_dead, "table": self.worker_sql.jobs_table}
        found = await self._tuples(self.worker_sql.jobs_need_vacuum, params)
        if not found or not found[0][0]:
            return False
        await self.conn.execute(self.worker_sql.vacuum_jobs)
        return True

    async def register_schedules(
        self, schedules: dict[str, str], first_runs: dict[str, dt.datetime]
    ) -> None:
        """Declare entrypoint -> expression; a new or changed one starts at first_runs[e]."""
        names = sorted(schedules)
        await self.conn.execute(
            self.worker_sql.register_schedules,
            {
                "entrypoints": names,
                "expressions": [schedules[n] for n in names],
                "first_runs": [first_runs[n] for n in names],
            },
        )

    async def claim_schedules(
        self, runs: Sequence[tuple[str, dt.datetime, dt.datetime]]
    ) -> list[tuple[str, int | None]]:
        """Enqueue the due runs given as (entrypoint, expected next_run, the run after it);
        returns (entrypoint, job id) for each run this call won, with no id when the run was
        skipped because the previous one is still waiting or running."""
        found = await self._tuples(
            self.worker_sql.claim_schedules,
            {
                "entrypoints": [r[0] for r in runs],
                "expected": [r[1] for r in runs],
                "following": [r[2] for r in runs],
            },
        )
        return [(str(r[0]), None if r[1] is None else int(r[1])) for r in found]

    # --- queue history --------------------------------------------------------------------------

    async def sample_history(
        self,
        worker: uuid.UUID,
        *,
        interval: float,
        retention_seconds: float,
        cost_factor: float,
    ) -> HistoryClaim:
        """Try to take the fleet's queue-history sample of the current slot; the try that
        claims it counts and writes the sample, and prunes samples past retention."""
        row = await self._tuple(
            self.worker_sql.sample_history,
            {
                "worker": worker,
                "interval": interval,
                "retention_seconds": retention_seconds,
                "cost_factor": cost_factor,
            },
        )
        return HistoryClaim(row[0], int(row[1]), int(row[2]))

    async def record_sample_cost(self, slot: dt.datetime, took: float) -> None:
        """Note how long the sample of `slot` took, which spaces out the next one."""
        await self.conn.execute(self.worker_sql.record_sample_cost, {"slot": slot, "took": took})

    # --- burst mode -----------------------------------------------------------------------------

    async def paused_due(self, entrypoints: Sequence[str]) -> dict[str, int]:
        """Due jobs of these entrypoints held back by a pause in force, per entrypoint."""
        statement = burst_statements(self.names).paused_due
        found = await self._tuples(statement, {"entrypoints": list(entrypoints)})
        return {str(r[0]): int(r[1]) for r in found}

    async def make_due(self, job_ids: Sequence[int]) -> list[int]:
        """Bring these waiting jobs' due time forward to now (delayed jobs, retries); the ids
        moved. The testing kit's way past retry delays."""
        found = await self._tuples(burst_statements(self.names).make_due, {"ids": list(job_ids)})
        return [int(r[0]) for r in found]
