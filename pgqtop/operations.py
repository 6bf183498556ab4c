"""What an operator can do, in one place: the CLI commands and the console both call these.

Each operation takes the queries of an open session and plain arguments, and returns a small
result; none prints, prompts or touches the screen. `pgqtop pause mail` and `p` on the console's
`mail` row are therefore the same write with the same checks, and what is shown before a
destructive step (the count of a purge or a requeue) comes from a plan that the step then carries
out with the very same filter.

Who an operator is: the OS user and host of the process that acts, `user@host`
(`operator_identity`). A pause records it whichever tool made it, so the `paused by` that
`status` and the console show always names a person on a machine. The database role is not used:
a fleet often shares one role among everybody, and the console's connection string says nothing
about who sits in front of it. The reason is the caller's: the CLI's `--reason`, and the console
(which has no field for one) says "console", so other operators can tell where a pause came from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import socket
from collections.abc import Mapping, Sequence

from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import PauseInfo
from pgqtop.model import (
    ALL_ENTRYPOINTS,
    WORKER_OUTCOMES,
    NewJob,
    OnDuplicate,
    purge_statuses,
)

COMPLETED_WINDOW = 60.0
"""Seconds of statistics a snapshot counts as `completed_last_minute`."""
FAILED_WINDOW = 3600.0
"""Seconds of recorded failures a snapshot counts as `failed_last_hour`."""
KNOWN_WITHIN_SECONDS = 86400.0
"""An entrypoint with statistics this recent counts as known when pausing it."""


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


async def resume(queries: ConsoleQueries, target: str) -> Resumed:
    """Lift the pause of one control key: an entrypoint, or ALL_ENTRYPOINTS for the pause of
    everything (the pauses of single entrypoints stay; `resume_all` lifts those too)."""
    lifted = await queries.resume([target])
    held = (
        target != ALL_ENTRYPOINTS
        and lifted > 0
        and any(p.entrypoint == ALL_ENTRYPOINTS for p in await queries.paused())
    )
    return Resumed(target, lifted, held)


async def resume_all(queries: ConsoleQueries) -> int:
    """Lift every pause; returns how many were still in force."""
    return await queries.resume_all()


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


async def execute_purge(queries: ConsoleQueries, plan: PurgePlan) -> int:
    """Delete what the plan counted, by the same filter; returns how many rows went."""
    return await queries.purge(plan.entrypoints, plan.statuses)


# --- requeue and cancel -------------------------------------------------------------------------


async def requeue_failure(queries: ConsoleQueries, failure_id: int) -> bool:
    """Put one failed job back as a new job; False when it was requeued before."""
    return await queries.requeue_failures([failure_id]) > 0


@dataclasses.dataclass(frozen=True, slots=True)
class RequeuePlan:
    entrypoint: str
    count: int
    """Final failures of the entrypoint not yet requeued."""


async def plan_requeue(queries: ConsoleQueries, entrypoint: str) -> RequeuePlan:
    """Count the failures of an entrypoint that a requeue would put back."""
    return RequeuePlan(entrypoint, await queries.count_requeueable(entrypoint))


async def execute_requeue(queries: ConsoleQueries, plan: RequeuePlan) -> int:
    """Requeue every failure of the plan's entrypoint as a new job; returns how many."""
    return await queries.requeue_failures(entrypoint=plan.entrypoint)


async def cancel_jobs(queries: ConsoleQueries, job_ids: Sequence[int]) -> int:
    """Ask for these running jobs to be canceled; the worker that holds a job records it as
    canceled within a heartbeat (at once when it hears the NOTIFY). Returns how many of them
    were running and not asked already."""
    return await queries.cancel(job_ids)


# --- enqueue ------------------------------------------------------------------------------------


async def enqueue(
    queries: ConsoleQueries, jobs: Sequence[NewJob], on_duplicate: OnDuplicate = OnDuplicate.ERROR
) -> list[int]:
    """Add jobs in one statement; returns the new ids (none for a duplicate that was skipped)."""
    return await queries.enqueue_jobs(jobs, on_duplicate=on_duplicate)
