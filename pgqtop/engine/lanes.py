"""The lock claim: batches held by row locks in an open transaction, one per lane.

Claiming by UPDATE writes every job twice after it was enqueued (picked, then deleted). A lane
writes it once: it opens a transaction, locks a batch of due jobs with SKIP LOCKED and runs
them while the transaction stays open; when the last one ends it deletes them, records their
outcomes and statistics and commits, in one round trip. What that keeps of the engine's
guarantees, and how:

- At least once: a worker that dies holding a batch dies with its transaction, so its jobs
  are due again at once (not after the retry timer).
- Attempts: the jobs a lane holds are named in its row of the claims table, committed apart
  from the lane's transaction before any handler starts (one row write per batch, not per
  job), and that row is emptied by the transaction that finishes the batch. Ids still named
  there belong to a holder that died; a take counts them as lost attempts, and a job lost as
  many times as its entrypoint's max_attempts is given up instead of run again.
- No long transaction: at `claim_deadline` the jobs still running are marked picked inside
  the same transaction, which then commits; from there they are ordinary picked jobs (the
  heartbeat keeps them, the completion buffer writes their outcomes).
- Poolers: a batch is one transaction on one connection, which a transaction pooler keeps.

A lane has its own connection. Jobs are dispatched by the QueueManager as usual; it hands each
outcome of a lane's job back to the lane (`ended`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping

from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.link import DATABASE_ERRORS, ReconnectingConnection
from pgqtop.model import Job, Outcome, Status, first_line

log = logging.getLogger(__name__)


class Lane:
    """One connection that holds at most one lock-claimed batch at a time."""

    def __init__(
        self,
        index: int,
        link: ReconnectingConnection[WorkerQueries],
        record_link: ReconnectingConnection[WorkerQueries],
        worker: uuid.UUID,
        *,
        deadline: float,
        on_free: Callable[[], None],
        on_converted: Callable[[Iterable[int]], None],
    ) -> None:
        self.index = index
        self.link = link
        self._record_link = record_link
        self._worker = worker
        self._deadline = deadline
        self._on_free = on_free
        self._on_converted = on_converted
        self.busy = False
        """A batch is held: the lane's transaction is open."""
        self._attempts: dict[int, int] = {}
        self._running: set[int] = set()
        self._outcomes: list[Outcome] = []
        self._absorbed: list[int] = []
        self._timer: asyncio.TimerHandle | None = None
        self._ending: asyncio.Task[None] | None = None

    async def take(
        self, rooms: dict[str, int], limit: int, max_attempts: Mapping[str, int]
    ) -> list[Job]:
        """Lock a batch and name it in the lane's row; the jobs to run (a job already lost as
        often as its entrypoint allows is given up, not returned). Raises DATABASE_ERRORS,
        with nothing held."""
        queries = await self.link.queries()
        try:
            taken = await queries.claim_held(rooms, limit, self._worker)
        except BaseException:
            await self._give_back(queries)
            raise
        if not taken:
            await queries.end_held()
            return []
        ids = [job.id for job, _ in taken]
        try:
            recorder = await self._record_link.queries()
            await recorder.record_claim(self._worker, self.index, ids)
        except BaseException:
            await self._give_back(queries)
            raise
        self.busy = True
        run: list[Job] = []
        for job, lost in taken:
            self._attempts[job.id] = job.attempts
            if lost:
                self._absorbed.append(job.id)
                cap = max_attempts.get(job.entrypoint)
                if cap is not None and job.attempts - 1 >= cap:
                    self._attempts[job.id] = job.attempts - 1  # the takes there were
                    self._outcomes.append(_given_up(job, lost))
                    continue
            self._running.add(job.id)
            run.append(job)
        if self._running:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._deadline, self._end, True)
        else:
            self._end(False)
        return run

    def ended(self, job_id: int, outcome: Outcome | None) -> None:
        """A job of this lane's batch ended; None: stopped without an outcome (shutdown), it
        goes back to the queue with the batch's commit."""
        if job_id not in self._running:
            return
        self._running.discard(job_id)
        if outcome is None:
            self._attempts.pop(job_id, None)
        else:
            self._outcomes.append(outcome)
        if not self._running and self._ending is None:
            self._end(False)

    def _end(self, at_deadline: bool) -> None:
        """Start writing the batch: its outcomes, and at the deadline its running jobs marked
        picked (from now on their outcomes go to the completion buffer)."""
        if self._ending is not None or not self.busy:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        running = sorted(self._running) if at_deadline else []
        if running:
            self._on_converted(running)
            self._running.clear()
        outcomes, self._outcomes = self._outcomes, []
        attempts, self._attempts = self._attempts, {}
        absorbed, self._absorbed = self._absorbed, []
        self._ending = asyncio.get_running_loop().create_task(
            self._write(outcomes, attempts, running, absorbed),
            name=f"pgqtop lane {self.index}",
        )

    async def _write(
        self,
        outcomes: list[Outcome],
        attempts: dict[int, int],
        running: list[int],
        absorbed: list[int],
    ) -> None:
        try:
            queries = await self.link.queries()
            # Attempts go only when a take counted lost ones (absorbed): otherwise each is the
            # stored count plus one, which the statement computes.
            await queries.finish_held(
                outcomes,
                attempts if absorbed else None,
                running,
                absorbed,
                self._worker,
                self.index,
            )
        except DATABASE_ERRORS as exc:
            # The transaction is gone with its locks: every job of the batch is due again and
            # runs again somewhere (at least once); outcomes of the marked ones match nothing.
            log.warning(
                "finishing a batch of %d jobs failed, they are queued again: %s",
                len(outcomes) + len(running),
                first_line(exc, typed=True),
            )
            await self.link.broken(exc)
        finally:
            self.busy = False
            self._ending = None
            self._on_free()

    async def _give_back(self, queries: WorkerQueries) -> None:
        """After a failed take: end whatever transaction is open so nothing stays locked."""
        # A broken connection needs nothing: the server ended the transaction with it.
        with contextlib.suppress(*DATABASE_ERRORS):
            await queries.rollback()

    async def close(self, limit: float) -> None:
        """Wait for the batch being written; a batch still held after `limit` seconds is
        given back (its jobs are queued again)."""
        if self._ending is not None:
            await asyncio.wait([self._ending], timeout=limit)
        if self.busy and self._ending is None:
            if self._timer is not None:
                self._timer.cancel()
            queries = self.link.current
            if queries is not None:
                await self._give_back(queries)
            self.busy = False
        await self.link.close()


def _given_up(job: Job, lost: int) -> Outcome:
    """The final failure of a job whose holders died with it `lost` times running it."""
    times = "once" if lost == 1 else f"{lost} times"
    error = f"worker lost {times} while holding it in a lock-claimed batch"
    text = (
        "Each time this job was taken by row locks, the worker holding it died (it was "
        "killed, crashed, or lost its connection) before the batch ended; no outcome was "
        f"recorded. It was given up after {job.attempts - 1} takes."
    )
    log.warning("job %d (%s) given up: %s", job.id, job.entrypoint, error)
    return Outcome(job.id, Status.EXCEPTION, 0.0, error, text)


class Lanes:
    """The lanes of one worker: which is free, and where a held job's outcome goes."""

    def __init__(
        self,
        count: int,
        link: Callable[[int], ReconnectingConnection[WorkerQueries]],
        record_link: ReconnectingConnection[WorkerQueries],
        worker: uuid.UUID,
        *,
        deadline: float,
        on_free: Callable[[], None],
    ) -> None:
        self.holder: dict[int, Lane] = {}
        """Job id -> the lane holding it, for jobs still inside a lane's transaction."""
        self.lanes = [
            Lane(
                i,
                link(i),
                record_link,
                worker,
                deadline=deadline,
                on_free=on_free,
                on_converted=self._converted,
            )
            for i in range(max(count, 1))
        ]

    def free(self) -> Lane | None:
        return next((lane for lane in self.lanes if not lane.busy), None)

    def _converted(self, ids: Iterable[int]) -> None:
        for job_id in ids:
            self.holder.pop(job_id, None)

    async def close(self, limit: float) -> None:
        await asyncio.gather(*(lane.close(limit) for lane in self.lanes))
