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
import enum
import getpass
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

from pgqtop.db.console import ConsoleQueries, purge_target, requeue_target
from pgqtop.db.rows import (
    FailureGroup,
    FailureSummary,
    FinishedJob,
    InFlightJob,
    JobFailure,
    LatencyHistograms,
    PauseInfo,
    WorkerInfo,
)
from pgqtop.model import (
    ALL_ENTRYPOINTS,
    WORKER_OUTCOMES,
    Job,
    NewJob,
    OnDuplicate,
    Status,
    check_new_jobs,
    dedupe_within_batch,
    purge_statuses,
    short_id,
)
from pgqtop.model.audit import Action, AuditEntry, AuditNote, check_reason, list_target
from pgqtop.model.forecast import MAX_WINDOW, Forecast, Sample, forecast
from pgqtop.model.history import HistorySample
from pgqtop.model.latency import Percentiles

COMPLETED_WINDOW = 60.0
"""Seconds of statistics a snapshot counts as `completed_last_minute`."""
FAILED_WINDOW = 3600.0
"""Seconds of recorded failures a snapshot counts as `failed_last_hour`."""
KNOWN_WITHIN_SECONDS = 86400.0
"""An entrypoint with statistics this recent counts as known when pausing it."""
LATENCY_WINDOW = 300.0
"""Seconds of statistics a snapshot's wait and run percentiles cover: the last 5 minutes."""
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


@dataclasses.dataclass(frozen=True, slots=True)
class ForecastRecord:
    """Where an entrypoint's due backlog is heading, as `status` reports it (model.forecast)."""

    trend: str
    net_rate_per_second: float | None
    """Arrivals minus completions, per second, over a window that fits the backlog."""
    clears_in_seconds: float | None

    @classmethod
    def of(cls, found: Forecast) -> ForecastRecord:
        return cls(str(found.trend), found.net_rate_per_second, found.clears_in_seconds)


@dataclasses.dataclass(slots=True)
class EntrypointStatus:
    entrypoint: str
    queued: int = 0
    """Queued jobs that are due now."""
    scheduled: int = 0
    """Queued jobs due later (delayed, or a retry's backoff)."""
    next_due_seconds: float | None = None
    """Seconds until the next scheduled job comes due; None when none is scheduled."""
    picked: int = 0
    failed_last_hour: int = 0
    oldest_queued_seconds: float | None = None
    """Wait of the oldest due job, from when it became due."""
    completed_last_minute: int = 0
    paused: PauseRecord | None = None
    forecast: ForecastRecord | None = None
    wait_p50_seconds: float | None = None
    """Percentiles over LATENCY_WINDOW of the time from due to picked; None without data."""
    wait_p95_seconds: float | None = None
    wait_p99_seconds: float | None = None
    run_p50_seconds: float | None = None
    """Percentiles over LATENCY_WINDOW of the handlers' run time; None without data."""
    run_p95_seconds: float | None = None
    run_p99_seconds: float | None = None

    def set_latency(self, latency: Latency) -> None:
        self.wait_p50_seconds, self.wait_p95_seconds, self.wait_p99_seconds = (
            latency.wait.p50,
            latency.wait.p95,
            latency.wait.p99,
        )
        self.run_p50_seconds, self.run_p95_seconds, self.run_p99_seconds = (
            latency.run.p50,
            latency.run.p95,
            latency.run.p99,
        )


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
    """One look at every queue: due and scheduled counts, the oldest due job, recent work,
    failures, pauses, and where each due backlog is heading."""
    rows: dict[str, EntrypointStatus] = {}

    def row(name: str) -> EntrypointStatus:
        return rows.setdefault(name, EntrypointStatus(name))

    depths = await queries.queue_depths()
    for depth in depths:
        entry = row(depth.entrypoint)
        entry.queued, entry.scheduled, entry.picked = depth.due, depth.scheduled, depth.picked
        entry.oldest_queued_seconds = depth.oldest_due_seconds
        entry.next_due_seconds = depth.next_due_seconds
    outcomes = await queries.recent_outcomes(COMPLETED_WINDOW)
    for name, completed in completed_by_entrypoint(outcomes).items():
        row(name).completed_last_minute = completed
    for name, failed in (await queries.failures_since(FAILED_WINDOW)).items():
        row(name).failed_last_hour = failed
    for name, measured in (await latency(queries, LATENCY_WINDOW)).items():
        row(name).set_latency(measured)
    paused_all = None
    for pause in await queries.paused():
        if pause.entrypoint == ALL_ENTRYPOINTS:
            paused_all = PauseRecord.of(pause)
        else:
            row(pause.entrypoint).paused = PauseRecord.of(pause)
    # The workers' history samples show how the due counts moved (read only when some job
    # waits or runs: an idle queue's forecast is "empty" anyway).
    samples = await queries.queue_history(MAX_WINDOW) if depths else []
    for entry in rows.values():
        points = (
            due_samples(samples, entry.entrypoint, depths[0].read_at, entry.queued)
            if depths
            else [(0.0, 0)]
        )
        rate = entry.completed_last_minute / COMPLETED_WINDOW
        entry.forecast = ForecastRecord.of(forecast(points, rate))
    return Snapshot(sorted(rows.values(), key=lambda e: e.entrypoint), paused_all)


def due_samples(
    samples: Sequence[HistorySample], entrypoint: str, now: dt.datetime, due_now: int
) -> list[Sample]:
    """An entrypoint's due jobs over the workers' history samples, then as counted `now`, in
    seconds before `now` (a sample that did not count the entrypoint had none waiting)."""
    points: list[Sample] = []
    for sample in samples:
        if sample.at < now:
            point = sample.entrypoints.get(entrypoint)
            points.append(((sample.at - now).total_seconds(), point.due if point else 0))
    points.append((0.0, due_now))
    return points


# --- latency ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Latency:
    """How long an entrypoint's jobs waited (due to picked) and ran over a window: percentiles
    from the statistics' histograms, each within a factor of about 1.58 of the true value
    (model.latency)."""

    entrypoint: str
    wait: Percentiles
    run: Percentiles

    @classmethod
    def of(cls, histograms: LatencyHistograms) -> Latency:
        return cls(
            histograms.entrypoint,
            Percentiles.of(histograms.wait_histogram, histograms.wait_seconds_max),
            Percentiles.of(histograms.run_histogram, histograms.run_seconds_max),
        )


async def latency(queries: ConsoleQueries, window_seconds: float) -> dict[str, Latency]:
    """Wait and run percentiles per entrypoint over the last `window_seconds` (the console
    charts 60, 900, 3600 or 86400). A 24-hour window adds up to 86400 rows per entrypoint and
    outcome, about 2 s of database time for three busy entrypoints: poll it once a minute, not
    with the short ones."""
    return {h.entrypoint: Latency.of(h) for h in await queries.latency_histograms(window_seconds)}


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


async def cancel_jobs(queries: ConsoleQueries, job_ids: Sequence[int], *, reason: str = "") -> int:
    """Ask for these running jobs to be canceled; the worker that holds a job records it as
    canceled within a heartbeat (at once when it hears the NOTIFY). Returns how many of them
    were running and not asked already. Recorded in the audit trail right after the request
    (the request is its own statement), counting the jobs the request reached."""
    reason = check_reason(reason)
    asked = await queries.cancel(job_ids)
    ids = [str(i) for i in dict.fromkeys(job_ids)]
    note = AuditNote(Action.CANCEL, operator_identity(), list_target("job", ids), reason)
    await queries.record_audit(note, asked)
    return asked


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
    # Checked first: a bad job is refused, naming it, before its name reaches the audit note.
    checked = check_new_jobs(jobs, queries.max_payload_bytes)
    names = list(dict.fromkeys(checked.entrypoints))
    note = AuditNote(Action.ENQUEUE, operator_identity(), ", ".join(names), reason)
    if progress is None or len(jobs) <= ENQUEUE_CHUNK:
        ids = await queries.enqueue_audited(jobs, note, on_duplicate=on_duplicate)
        if progress is not None:
            progress(len(jobs))
        return ids
    # Checked, and within-batch duplicates settled, across the whole load, not per chunk.
    unique = dedupe_within_batch(checked, on_duplicate)
    ids = []
    async with queries.conn.transaction():
        for start in range(0, len(unique), ENQUEUE_CHUNK):
            rows = range(start, min(start + ENQUEUE_CHUNK, len(unique)))
            ids += await queries.enqueue_checked(unique.subset(rows), on_duplicate)
            progress(len(ids))
        await queries.record_audit(note, len(ids))
    return ids


async def undeclared(
    queries: ConsoleQueries, entrypoints: Iterable[str], stale_after: float
) -> list[str]:
    """Of these entrypoints, those no live worker (a heartbeat within `stale_after` seconds)
    declares: their jobs are accepted, and wait until a worker that handles them starts, so
    whoever enqueued them should hear of it (a typo in a name, perhaps)."""
    declared = {
        name
        for worker in await queries.workers()
        if worker.heartbeat_age <= stale_after
        for name in worker.entrypoints
    }
    return [name for name in dict.fromkeys(entrypoints) if name not in declared]


def undeclared_warning(entrypoint: str) -> str:
    """What the command line and the console say of an entrypoint no live worker declares."""
    return f"no live worker declares {entrypoint!r}: its jobs wait until one does"


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


# --- what happened to job X ---------------------------------------------------------------------


class JobState(enum.StrEnum):
    """Where a job's story stands, as `pgqtop job` reports it."""

    QUEUED = "queued"
    """Due and waiting for a worker."""
    SCHEDULED = "scheduled"
    """Waiting until a later time: a delayed job, or a retry's backoff."""
    PICKED = "picked"
    """A worker is running it."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    ENDED = "ended"
    """It left the queue, but how is no longer kept (it finished before the finished jobs'
    retention, or was purged); its failed attempts are all that is known."""


_ENDS = {
    Status.SUCCESSFUL.value: JobState.SUCCEEDED,
    Status.EXCEPTION.value: JobState.FAILED,
    Status.CANCELED.value: JobState.CANCELED,
}


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerRef:
    """A worker as a job's story names it."""

    id: uuid.UUID
    short_id: str
    host: str | None
    """None when the worker is no longer registered and nothing kept its host."""
    pid: int | None
    registered: bool
    """Whether it is still in the workers registry."""


@dataclasses.dataclass(frozen=True, slots=True)
class FailedAttempt:
    attempt: int
    status: str
    """exception, or canceled."""
    final: bool
    """The job's last attempt: it was not retried after this."""
    failed_at: dt.datetime
    error: str
    traceback: str
    worker: WorkerRef | None
    requeued_at: dt.datetime | None
    """When an operator put the job back as a new job."""


@dataclasses.dataclass(frozen=True, slots=True)
class JobStory:
    """What happened to one job: when it was due, who picked it, each failed attempt and, while
    the finished jobs are kept, how it ended."""

    job_id: int
    status: JobState
    entrypoint: str
    priority: int
    attempts: int
    created: dt.datetime | None
    due: dt.datetime | None
    """When the job (its latest attempt) could run: its execute_after."""
    picked: dt.datetime | None
    """When its latest attempt was picked."""
    worker: WorkerRef | None
    """Who runs it (picked) or ran it (finished)."""
    waited_seconds: float | None
    """From due to picked; for a queued job, how long it has waited so far."""
    ran_seconds: float | None
    """The handler's run time; for a picked job, how long it has run so far."""
    finished: dt.datetime | None
    failures: list[FailedAttempt]
    job: Job | None
    """The job's row (payload, headers, dedupe key) while it waits or runs."""


def _worker_ref(
    worker_id: uuid.UUID | None,
    registry: Mapping[uuid.UUID, WorkerInfo],
    host: str | None = None,
    pid: int | None = None,
) -> WorkerRef | None:
    if worker_id is None:
        return None
    known = registry.get(worker_id)
    return WorkerRef(
        worker_id,
        short_id(worker_id),
        host if host is not None else (known.host if known else None),
        pid if pid is not None else (known.pid if known else None),
        known is not None,
    )


def tell_story(
    job_id: int,
    live: tuple[Job, dt.datetime] | None,
    finished: FinishedJob | None,
    failures: Sequence[JobFailure],
    registry: Iterable[WorkerInfo] = (),
) -> JobStory | None:
    """A job's story from what the tables still hold; None when they hold nothing of it."""
    workers = {w.id: w for w in registry}
    attempts = [
        FailedAttempt(
            f.attempts,
            f.status,
            f.final,
            f.failed_at,
            f.error,
            f.traceback,
            _worker_ref(f.worker_id, workers),
            f.requeued_at,
        )
        for f in failures
    ]
    if live is not None:
        job, now = live
        return _live_story(job, now, attempts, workers)
    if finished is not None:
        return JobStory(
            job_id,
            _ENDS.get(finished.status, JobState.ENDED),
            finished.entrypoint,
            finished.priority,
            finished.attempts,
            finished.created,
            finished.execute_after,
            finished.picked,
            _worker_ref(finished.worker_id, workers, finished.host, finished.pid),
            finished.wait_seconds,
            finished.run_seconds,
            finished.finished,
            attempts,
            None,
        )
    if not failures:
        return None
    last = failures[-1]
    ended = _ENDS.get(last.status, JobState.ENDED) if last.final else JobState.ENDED
    return JobStory(
        job_id,
        ended,
        last.entrypoint,
        last.priority,
        last.attempts,
        last.job_created,
        None,
        None,
        attempts[-1].worker if last.final else None,
        None,
        None,
        last.failed_at if last.final else None,
        attempts,
        None,
    )


def _live_story(
    job: Job,
    now: dt.datetime,
    attempts: list[FailedAttempt],
    workers: Mapping[uuid.UUID, WorkerInfo],
) -> JobStory:
    due = max(job.execute_after, job.created)
    if job.status == Status.PICKED:
        status = JobState.PICKED
        picked: dt.datetime | None = job.updated
        waited: float | None = max((job.updated - due).total_seconds(), 0.0)
        ran: float | None = max((now - job.updated).total_seconds(), 0.0)
        worker = _worker_ref(job.worker_id, workers)
    else:
        status = JobState.SCHEDULED if job.execute_after > now else JobState.QUEUED
        picked, ran, worker = None, None, None
        waited = max((now - due).total_seconds(), 0.0) if status == JobState.QUEUED else None
    return JobStory(
        job.id,
        status,
        job.entrypoint,
        job.priority,
        job.attempts,
        job.created,
        job.execute_after,
        picked,
        worker,
        waited,
        ran,
        None,
        attempts,
        job,
    )


async def job_story(queries: ConsoleQueries, job_id: int) -> JobStory | None:
    """Everything the tables still know of one job (`pgqtop job ID`, the console's go-to-job):
    None when they know nothing, say because it finished longer ago than the retention."""
    live = await queries.live_job(job_id)
    finished = None if live is not None else await queries.finished_job(job_id)
    failures = await queries.job_failures(job_id)
    if live is None and finished is None and not failures:
        return None
    return tell_story(job_id, live, finished, failures, await queries.workers())


# --- which worker holds what --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerLoad:
    """A registered worker and the jobs it holds right now (picked rows with its id)."""

    worker: WorkerInfo
    short_id: str
    jobs: list[InFlightJob]
    """Longest running first."""

    @property
    def longest_running_seconds(self) -> float | None:
        return max((j.running_seconds for j in self.jobs), default=None)


async def worker_loads(queries: ConsoleQueries) -> list[WorkerLoad]:
    """Every registered worker with its in-flight jobs, in the registry's order."""
    held: dict[uuid.UUID | None, list[InFlightJob]] = {}
    for job in await queries.in_flight():
        held.setdefault(job.worker_id, []).append(job)
    return [WorkerLoad(w, short_id(w.id), held.get(w.id, [])) for w in await queries.workers()]


async def worker_jobs(queries: ConsoleQueries, worker_id: uuid.UUID) -> list[InFlightJob]:
    """The jobs one worker holds, longest running first (the console's drill-down; cancel one
    with cancel_jobs)."""
    return await queries.in_flight(worker_id)
