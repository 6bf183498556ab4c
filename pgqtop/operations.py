"""What an operator can do, in one place: the CLI commands and the console both call these.

Each operation takes the queries of an open session and plain arguments, and returns a small
result; none prints, prompts or touches the screen. `pgqtop pause mail` and `p` on the console's
`mail` row are therefore the same write with the same checks, and what is shown before a
destructive step (the count of a purge or a requeue) comes from a plan that the step then carries
out with the very same filter.

Who an operator is: the OS user and host of the process that acts, `user@host`
(`operator_identity`). A pause records it whichever tool made it, so the `paused by` that
`status` and the console show always names a person on a machine. The reason is the caller's:
the CLI's `--reason`, and the console (which has no field for one) says "console", so other
operators can tell where a pause came from.

Every action is recorded in the audit trail with that identity, the target, the count and the
reason; the database adds its role (`current_user`) and the time, and announces the entry on the
channel. An action of one statement records itself in that statement. A long purge, requeue or
enqueue given a `progress` callback runs in chunks inside one transaction and records the whole
at the end of it: such a caller must own its connection (the command line does; a console's
shared connection must not be given a progress callback).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import socket
from collections.abc import Callable, Mapping, Sequence

from pgqtop.db.console import ConsoleQueries, purge_target, requeue_target
from pgqtop.db.rows import FailureGroup, FailureSummary, PauseInfo
from pgqtop.model import (
    ALL_ENTRYPOINTS,
    WORKER_OUTCOMES,
    NewJob,
    OnDuplicate,
    dedupe_within_batch,
    purge_statuses,
)
from pgqtop.model.audit import Action, AuditEntry, AuditNote, check_reason, list_target
from pgqtop.model.history import HistorySample

COMPLETED_WINDOW = 60.0
"""Seconds of statistics a snapshot counts as `completed_last_minute`."""
FAILED_WINDOW = 3600.0
"""Seconds of recorded failures a snapshot counts as `failed_last_hour`."""
KNOWN_WITHIN_SECONDS = 86400.0
"""An entrypoint with statistics this recent counts as known when pausing it."""
ENQUEUE_CHUNK = 10_000
"""Jobs per statement of an enqueue shown with progress."""
PURGE_CHUNK = 20_000
"""Jobs per statement of a purge shown with progress."""
REQUEUE_CHUNK = 5_000
"""Failures per statement of a requeue shown with progress."""

Progress = Callable[[int], None]
"""Told how many rows are done so far, after each chunk of a long operation."""


def operator_identity() -> str:
    """Who is acting, as other operators will see it: the OS user and host, `user@host`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


# --- status snapshot ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PauseRecord:
    """A pause in force, as `status` reports it."""

    by: str
    reason: str
    since: dt.datetime
    until: dt.datetime | None

    @classmethod
    def of(cls, info: PauseInfo) -> PauseRecord:
        return cls(info.paused_by, info.reason, info.paused_at, info.paused_until)


@dataclasses.dataclass(slots=True)
class EntrypointStatus:
    entrypoint: str
    queued: int = 0
    picked: int = 0
    failed_last_hour: int = 0
    oldest_queued_seconds: float | None = None
    completed_last_minute: int = 0
    paused: PauseRecord | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """Every entrypoint with jobs, recent activity or a pause, sorted by name."""

    entrypoints: list[EntrypointStatus]
    paused_all: PauseRecord | None
    """The pause of every entrypoint (`pause --all`, `P`), when one is in force."""


def completed_by_entrypoint(outcomes: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """Jobs finished per entrypoint from per-(entrypoint, outcome) counts; purges do not count."""
    totals: dict[str, int] = {}
    for (entrypoint, status), count in outcomes.items():
        if status in WORKER_OUTCOMES:
            totals[entrypoint] = totals.get(entrypoint, 0) + count
    return totals


async def snapshot(queries: ConsoleQueries) -> Snapshot:
    """One look at every queue: counts, the oldest waiting job, recent work, failures, pauses."""
    rows: dict[str, EntrypointStatus] = {}

    def row(name: str) -> EntrypointStatus:
        return rows.setdefault(name, EntrypointStatus(name))

    for count in await queries.queue_counts():
        entry = row(count.entrypoint)
        if count.status == "queued":
            entry.queued = count.count
            entry.oldest_queued_seconds = count.oldest_seconds
        elif count.status == "picked":
            entry.picked = count.count
    outcomes = await queries.recent_outcomes(COMPLETED_WINDOW)
    for name, completed in completed_by_entrypoint(outcomes).items():
        row(name).completed_last_minute = completed
    for name, failed in (await queries.failures_since(FAILED_WINDOW)).items():
        row(name).failed_last_hour = failed
    paused_all = None
    for pause in await queries.paused():
        if pause.entrypoint == ALL_ENTRYPOINTS:
            paused_all = PauseRecord.of(pause)
        else:
            row(pause.entrypoint).paused = PauseRecord.of(pause)
    return Snapshot(sorted(rows.values(), key=lambda e: e.entrypoint), paused_all)


# --- pause and resume ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Paused:
    target: str
    """An entrypoint, or ALL_ENTRYPOINTS."""
    seconds: float | None
    """How long the pause lasts; None until resumed."""
    by: str
    reason: str
    known: bool
    """False when no job, worker or recent statistic names the entrypoint (a typo, perhaps):
    it is paused all the same, and the caller should say so."""


async def is_known(queries: ConsoleQueries, entrypoint: str) -> bool:
    """Whether a registered worker, recent statistics or a job names the entrypoint.

    The cheap looks go first (the workers table, an index range over statistics); the count
    over the jobs table runs only when neither knows the name."""
    if any(entrypoint in worker.entrypoints for worker in await queries.workers()):
        return True
    recent = await queries.recent_outcomes(KNOWN_WITHIN_SECONDS)
    if any(name == entrypoint for name, _ in recent):
        return True
    return any(count.entrypoint == entrypoint for count in await queries.queue_counts())


async def pause(
    queries: ConsoleQueries, target: str, *, seconds: float | None = None, reason: str = ""
) -> Paused:
    """Stop every worker of the fleet taking `target` (ALL_ENTRYPOINTS: everything), recorded
    with the operator's identity and reason, and announced on the channel."""
    reason = check_reason(reason)
    known = target == ALL_ENTRYPOINTS or await is_known(queries, target)
    by = operator_identity()
    await queries.pause([target], seconds=seconds, by=by, reason=reason)
    return Paused(target, seconds, by, reason, known)


@dataclasses.dataclass(frozen=True, slots=True)
class Resumed:
    target: str
    lifted: int
    """Pauses in force that this lifted; 0 when the target was not paused."""
    still_paused_all: bool
    """One entrypoint was resumed, but a pause of every entrypoint still holds it."""


async def resume(queries: ConsoleQueries, target: str, *, reason: str = "") -> Resumed:
    """Lift the pause of one control key: an entrypoint, or ALL_ENTRYPOINTS for the pause of
    everything (the pauses of single entrypoints stay; `resume_all` lifts those too)."""
    reason = check_reason(reason)
    lifted = await queries.resume([target], by=operator_identity(), reason=reason)
    held = (
        target != ALL_ENTRYPOINTS
        and lifted > 0
        and any(p.entrypoint == ALL_ENTRYPOINTS for p in await queries.paused())
    )
    return Resumed(target, lifted, held)


async def resume_all(queries: ConsoleQueries, *, reason: str = "") -> int:
    """Lift every pause; returns how many were still in force."""
    return await queries.resume_all(by=operator_identity(), reason=check_reason(reason))


# --- purge --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PurgePlan:
    """What a purge will delete, counted before anyone is asked to confirm it."""

    entrypoints: tuple[str, ...] | None
    """None: every entrypoint."""
    statuses: tuple[str, ...]
    count: int


async def plan_purge(
    queries: ConsoleQueries,
    entrypoints: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
) -> PurgePlan:
    """Count the jobs a purge would delete (queued ones unless statuses say otherwise)."""
    chosen = tuple(purge_statuses(statuses))
    names = tuple(entrypoints) if entrypoints else None
    count = await queries.count_matching(names, chosen)
    return PurgePlan(names, chosen, count)


async def execute_purge(
    queries: ConsoleQueries,
    plan: PurgePlan,
    *,
    reason: str = "",
    progress: Progress | None = None,
) -> int:
    """Delete what the plan counted, by the same filter; returns how many rows went. With
    `progress`, in chunks inside one transaction (the caller must own the connection)."""
    reason = check_reason(reason)
    by = operator_identity()
    if progress is None:
        return await queries.purge(plan.entrypoints, plan.statuses, by=by, reason=reason)
    deleted, after = 0, 0
    async with queries.conn.transaction():
        while True:
            gone, last = await queries.purge_chunk(
                plan.entrypoints, plan.statuses, after=after, limit=PURGE_CHUNK
            )
            if last is None:
                break
            deleted, after = deleted + gone, last
            progress(deleted)
        target = purge_target(plan.entrypoints, plan.statuses)
        await queries.record_audit(AuditNote(Action.PURGE, by, target, reason), deleted)
    return deleted


# --- requeue ------------------------------------------------------------------------------------


async def requeue_failure(queries: ConsoleQueries, failure_id: int, *, reason: str = "") -> bool:
    """Put one failed job back as a new job; False when it was requeued before."""
    requeued = await queries.requeue_failures(
        [failure_id], by=operator_identity(), reason=check_reason(reason)
    )
    return requeued > 0


@dataclasses.dataclass(frozen=True, slots=True)
class RequeuePlan:
    """Which failures a requeue puts back, counted before anyone is asked to confirm it: final
    failures not requeued yet, of an entrypoint, by id, of a failure group (together: all of
    the given filters)."""

    entrypoint: str | None
    count: int
    ids: tuple[int, ...] | None = None
    fingerprint: str | None = None

    def target(self) -> str:
        return requeue_target(self.ids, self.entrypoint, self.fingerprint)


async def plan_requeue(
    queries: ConsoleQueries,
    entrypoint: str | None = None,
    *,
    ids: Sequence[int] | None = None,
    fingerprint: str | None = None,
) -> RequeuePlan:
    """Count the failures a requeue with these filters would put back."""
    chosen = tuple(ids) if ids is not None else None
    count = await queries.count_requeueable(entrypoint, ids=chosen, fingerprint=fingerprint)
    return RequeuePlan(entrypoint, count, chosen, fingerprint)


async def execute_requeue(
    queries: ConsoleQueries,
    plan: RequeuePlan,
    *,
    reason: str = "",
    progress: Progress | None = None,
) -> int:
    """Requeue what the plan counted as new jobs, by the same filter; returns how many. With
    `progress`, in chunks inside one transaction (the caller must own the connection)."""
    reason = check_reason(reason)
    by = operator_identity()
    if progress is None:
        return await queries.requeue_failures(
            plan.ids, plan.entrypoint, fingerprint=plan.fingerprint, by=by, reason=reason
        )
    requeued, after = 0, 0
    async with queries.conn.transaction():
        while True:
            done, last = await queries.requeue_chunk(
                plan.ids, plan.entrypoint, plan.fingerprint, after=after, limit=REQUEUE_CHUNK
            )
            if last is None:
                break
            requeued, after = requeued + done, last
            progress(requeued)
        note = AuditNote(Action.REQUEUE, by, plan.target(), reason)
        await queries.record_audit(note, requeued)
    return requeued


# --- cancel -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class CancelPlan:
    job_ids: tuple[int, ...]
    running: int
    """How many of them a worker is running now: what the cancel can stop."""


async def plan_cancel(queries: ConsoleQueries, job_ids: Sequence[int]) -> CancelPlan:
    """Count the given jobs that are running, before anyone is asked to confirm a cancel."""
    chosen = tuple(dict.fromkeys(job_ids))
    return CancelPlan(chosen, await queries.count_running(chosen))


async def cancel_jobs(queries: ConsoleQueries, job_ids: Sequence[int], *, reason: str = "") -> None:
    """Ask every worker to cancel these running jobs; the one that holds a job records it
    as canceled. Recorded in the audit trail right after the request (the request is its own
    statement), counting the jobs asked for."""
    reason = check_reason(reason)
    await queries.cancel(job_ids)
    ids = [str(i) for i in dict.fromkeys(job_ids)]
    note = AuditNote(Action.CANCEL, operator_identity(), list_target("job", ids), reason)
    await queries.record_audit(note, len(ids))


# --- enqueue ------------------------------------------------------------------------------------


async def enqueue(
    queries: ConsoleQueries,
    jobs: Sequence[NewJob],
    on_duplicate: OnDuplicate = OnDuplicate.ERROR,
    *,
    reason: str = "",
    progress: Progress | None = None,
) -> list[int]:
    """Add jobs as an operator (recorded in the audit trail); returns the new ids (none for a
    duplicate that was skipped). One statement, or with `progress` and more than a chunk of
    jobs, chunks inside one transaction (the caller must own the connection)."""
    reason = check_reason(reason)
    names = list(dict.fromkeys(job.entrypoint for job in jobs))
    note = AuditNote(Action.ENQUEUE, operator_identity(), ", ".join(names), reason)
    if progress is None or len(jobs) <= ENQUEUE_CHUNK:
        ids = await queries.enqueue_audited(jobs, note, on_duplicate=on_duplicate)
        if progress is not None:
            progress(len(jobs))
        return ids
    # Within-batch duplicates are settled across the whole load, not per chunk.
    unique = dedupe_within_batch(jobs, on_duplicate)
    ids = []
    async with queries.conn.transaction():
        for start in range(0, len(unique), ENQUEUE_CHUNK):
            chunk = unique[start : start + ENQUEUE_CHUNK]
            ids += await queries.enqueue_jobs(chunk, on_duplicate=on_duplicate)
            progress(len(ids))
        await queries.record_audit(note, len(ids))
    return ids


# --- the embedded worker ------------------------------------------------------------------------


async def record_scale(
    queries: ConsoleQueries, worker: str, before: int, after: int, *, reason: str = ""
) -> int:
    """Record that an operator changed a worker's concurrency (the console's + and -): the
    change is the worker's own, so only the entry is written. Returns the entry's id."""
    target = f"worker {worker}: concurrency {before} -> {after}"
    note = AuditNote(Action.SCALE, operator_identity(), target, check_reason(reason))
    return await queries.record_audit(note, after)


# --- failure groups -----------------------------------------------------------------------------


async def list_failures(
    queries: ConsoleQueries,
    *,
    entrypoint: str | None = None,
    seconds: float | None = None,
    limit: int = 100,
) -> list[FailureSummary]:
    """Single failures, newest first."""
    return await queries.list_failures(entrypoint=entrypoint, seconds=seconds, limit=limit)


async def failure_groups(
    queries: ConsoleQueries,
    *,
    entrypoint: str | None = None,
    seconds: float | None = None,
    limit: int = 100,
) -> list[FailureGroup]:
    """Failures grouped by entrypoint and error pattern, the largest first."""
    return await queries.failure_groups(entrypoint=entrypoint, seconds=seconds, limit=limit)


@dataclasses.dataclass(frozen=True, slots=True)
class PurgeFailuresPlan:
    fingerprint: str
    group: FailureGroup | None
    """None when no failure has this fingerprint (nothing to delete)."""

    @property
    def count(self) -> int:
        return self.group.count if self.group else 0


async def plan_purge_failures(queries: ConsoleQueries, fingerprint: str) -> PurgeFailuresPlan:
    """Count the failure records of a group, before anyone is asked to confirm deleting them."""
    return PurgeFailuresPlan(fingerprint, await queries.failure_group(fingerprint))


async def execute_purge_failures(
    queries: ConsoleQueries, plan: PurgeFailuresPlan, *, reason: str = ""
) -> int:
    """Delete the failure records of the plan's group (not jobs: those are gone already);
    returns how many went."""
    entrypoint = f" ({plan.group.entrypoint})" if plan.group else ""
    return await queries.purge_failure_group(
        plan.fingerprint,
        by=operator_identity(),
        target=f"group {plan.fingerprint}{entrypoint}",
        reason=check_reason(reason),
    )


# --- history and audit --------------------------------------------------------------------------


async def history(
    queries: ConsoleQueries,
    seconds: float,
    *,
    entrypoint: str | None = None,
    bucket: float | None = None,
) -> list[HistorySample]:
    """The queue's samples of the last `seconds`: each one, or with `bucket` the peaks of each
    `bucket` seconds (a chart of a day needs no 8,640 points)."""
    return await queries.queue_history(seconds, bucket, entrypoint)


async def audit_log(queries: ConsoleQueries, seconds: float, limit: int = 1000) -> list[AuditEntry]:
    """Operator actions of the last `seconds`, newest first."""
    return await queries.audit_log(seconds, limit)
