"""The shapes rows come back in, and how each is built from a row.

Cold paths (what a console or a command reads) build theirs with psycopg row factories from
the column names. The hot path, a dequeued job, is built positionally: it runs once per job
taken, and keywords plus an enum call cost 2.5 times as much.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.rows import BaseRowFactory, args_row, class_row

from pgqtop.model import STATUS_BY_VALUE, Job, Status
from pgqtop.model.audit import AuditEntry
from pgqtop.model.fingerprint import exception_name

JOB_COLUMNS = tuple(field.name for field in dataclasses.fields(Job))
"""The jobs table's columns in the order of Job's fields, so a row maps on positionally."""
PICKED_COLUMNS = tuple(c for c in JOB_COLUMNS if c not in ("status", "heartbeat", "worker_id"))
"""The columns a dequeue returns; the rest are known to the worker that took the job."""
_STATUS_INDEX = JOB_COLUMNS.index("status")


def job_from_row(row: Sequence[Any]) -> Job:
    """A Job from a row selected with JOB_COLUMNS, its status text made a Status."""
    if len(row) != len(JOB_COLUMNS):
        raise ValueError(f"a job row has {len(JOB_COLUMNS)} columns, not {len(row)}")
    fields = list(row)
    fields[_STATUS_INDEX] = STATUS_BY_VALUE[fields[_STATUS_INDEX]]
    return Job(*fields)


def picked_job_from_row(row: Sequence[Any], worker: uuid.UUID) -> Job:
    """A Job from a dequeued row (PICKED_COLUMNS): status picked, heartbeat = updated (one
    now() set both), held by `worker`."""
    (
        job_id,
        priority,
        created,
        updated,
        execute_after,
        entrypoint,
        payload,
        headers,
        attempts,
        dedupe_key,
    ) = row
    return Job(
        job_id,
        priority,
        created,
        updated,
        execute_after,
        Status.PICKED,
        entrypoint,
        payload,
        headers,
        attempts,
        dedupe_key,
        updated,
        worker,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class CompletionResult:
    finished: int
    retried: int
    failures_recorded: int


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryClaim:
    """One try at the fleet's queue-history sample."""

    slot: dt.datetime | None
    """The slot this try claimed and sampled; None when another worker has it (or had it)."""
    entrypoints: int
    """Rows written: one per entrypoint with jobs waiting or running, or paused."""
    pruned: int


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """What a worker tells the registry about itself at every heartbeat."""

    id: uuid.UUID
    host: str
    pid: int
    version: str
    entrypoints: list[str]
    concurrency: int
    alive_window: float = 15.0
    """Seconds since its last heartbeat within which another worker counts as alive when this
    one works out its place for a LISTEN seat (engine/seats.py)."""


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerReport:
    """What a worker says of itself at a heartbeat, beside its identity."""

    job_ids: Sequence[int]
    """The jobs it holds: their heartbeat moves on."""
    in_flight: int
    processed: int
    failed: int
    state: str = "running"
    rss_bytes: int | None = None
    hung_threads: int = 0
    wake: str = "listen"
    """How new work reaches it: "listen", "standby" or "poll" (engine/seats.py)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat found."""

    beaten: int
    """Held jobs whose heartbeat moved on."""
    cancel_requested: list[int]
    """Held jobs a console asked to cancel."""
    ahead: int = 0
    """Live workers ahead of this one for a LISTEN seat (engine/seats.py)."""


@dataclasses.dataclass(frozen=True, slots=True)
class LostJob:
    """A job given up because its workers kept disappearing while they held it."""

    id: int
    entrypoint: str
    error: str


@dataclasses.dataclass(frozen=True, slots=True)
class QueueCount:
    entrypoint: str
    status: str
    count: int
    oldest_seconds: float


@dataclasses.dataclass(frozen=True, slots=True)
class QueueDepth:
    """One entrypoint's waiting and running jobs, with due and scheduled told apart."""

    entrypoint: str
    due: int
    """Queued and due now: what a worker would take next."""
    scheduled: int
    """Queued for a later time (a delayed job, a retry's backoff)."""
    picked: int
    oldest_due_seconds: float | None
    """Wait of the oldest due job, from when it became due; None when none is due."""
    next_due_seconds: float | None
    """Seconds until the next scheduled job comes due; None when none is scheduled."""
    read_at: dt.datetime
    """The database's clock when it counted."""


@dataclasses.dataclass(frozen=True, slots=True)
class PauseInfo:
    entrypoint: str
    paused_at: dt.datetime
    paused_until: dt.datetime | None
    paused_by: str
    reason: str
    remaining_seconds: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleInfo:
    entrypoint: str
    expression: str
    next_run: dt.datetime
    last_run: dt.datetime | None
    due_in_seconds: float
    """Negative when the run is due and no worker has taken it yet."""
    read_at: dt.datetime
    """The database's clock when this row was read: schedules are computed on it."""


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: uuid.UUID
    host: str
    pid: int
    version: str
    entrypoints: list[str]
    concurrency: int
    started: dt.datetime
    heartbeat: dt.datetime
    in_flight: int
    processed: int
    failed: int
    state: str
    heartbeat_age: float
    rss_bytes: int | None = None
    """Resident memory at the last heartbeat; None from a worker that does not report it."""
    hung_threads: int = 0
    """Threads of its pool still running sync handlers whose jobs already ended."""
    wake: str = "listen"
    """How new work reaches it: "listen" (a LISTEN seat), "standby" or "poll"
    (engine/seats.py)."""


@dataclasses.dataclass(frozen=True, slots=True)
class FailureSummary:
    id: int
    job_id: int
    entrypoint: str
    priority: int
    attempts: int
    status: str
    final: bool
    error: str
    failed_at: dt.datetime
    requeued_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class FailureDetail:
    id: int
    job_id: int
    entrypoint: str
    priority: int
    payload: bytes | None
    headers: dict[str, Any] | None
    attempts: int
    status: str
    final: bool
    error: str
    traceback: str
    job_created: dt.datetime | None
    failed_at: dt.datetime
    worker_id: uuid.UUID | None
    requeued_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class SeriesPoint:
    bucket: dt.datetime
    entrypoint: str
    status: str
    count: int
    queue_seconds_sum: float
    queue_seconds_max: float
    run_seconds_sum: float
    run_seconds_max: float


@dataclasses.dataclass(frozen=True, slots=True)
class LatencyHistograms:
    """One entrypoint's latency buckets over a window (model.latency), summed."""

    entrypoint: str
    wait_histogram: list[int]
    run_histogram: list[int]
    wait_seconds_max: float
    run_seconds_max: float


@dataclasses.dataclass(frozen=True, slots=True)
class FinishedJob:
    """How a job ended, as the finished table keeps it for a while."""

    job_id: int
    entrypoint: str
    priority: int
    status: str
    attempts: int
    created: dt.datetime
    execute_after: dt.datetime
    picked: dt.datetime
    finished: dt.datetime
    wait_seconds: float
    run_seconds: float
    worker_id: uuid.UUID | None
    host: str | None
    pid: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class JobFailure:
    """One failed attempt of a job, from the failures table."""

    id: int
    entrypoint: str
    priority: int
    attempts: int
    status: str
    final: bool
    error: str
    traceback: str
    job_created: dt.datetime | None
    failed_at: dt.datetime
    worker_id: uuid.UUID | None
    requeued_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class InFlightJob:
    """A picked job and the worker holding it."""

    worker_id: uuid.UUID | None
    id: int
    entrypoint: str
    priority: int
    attempts: int
    started: dt.datetime
    running_seconds: float
    heartbeat_age: float


@dataclasses.dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failures of one entrypoint with the same error pattern: one problem, however often."""

    fingerprint: str
    entrypoint: str
    error_pattern: str
    count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    sample_id: int
    """The latest failure of the group: its traceback stands for the rest."""
    final: int
    """Failures that ended their job (the others were retried)."""
    requeueable: int
    """Final failures not requeued yet: what a requeue of the group puts back."""

    @property
    def exception(self) -> str:
        return exception_name(self.error_pattern)


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryRow:
    """A bucket of queue history for one entrypoint (None: samples that counted none)."""

    at: dt.datetime
    entrypoint: str | None
    due: int
    scheduled: int
    picked: int
    oldest_due_seconds: float | None
    paused: bool
    paused_all: bool


def _job(*values: Any) -> Job:
    return job_from_row(values)


QUEUE_COUNT: BaseRowFactory[QueueCount] = class_row(QueueCount)
QUEUE_DEPTH: BaseRowFactory[QueueDepth] = class_row(QueueDepth)
PAUSE_INFO: BaseRowFactory[PauseInfo] = class_row(PauseInfo)
SCHEDULE_INFO: BaseRowFactory[ScheduleInfo] = class_row(ScheduleInfo)
WORKER_INFO: BaseRowFactory[WorkerInfo] = class_row(WorkerInfo)
FAILURE_SUMMARY: BaseRowFactory[FailureSummary] = class_row(FailureSummary)
FAILURE_DETAIL: BaseRowFactory[FailureDetail] = class_row(FailureDetail)
SERIES_POINT: BaseRowFactory[SeriesPoint] = class_row(SeriesPoint)
LATENCY_HISTOGRAMS: BaseRowFactory[LatencyHistograms] = class_row(LatencyHistograms)
FINISHED_JOB: BaseRowFactory[FinishedJob] = class_row(FinishedJob)
JOB_FAILURE: BaseRowFactory[JobFailure] = class_row(JobFailure)
IN_FLIGHT_JOB: BaseRowFactory[InFlightJob] = class_row(InFlightJob)
HISTORY_ROW: BaseRowFactory[HistoryRow] = class_row(HistoryRow)
FAILURE_GROUP: BaseRowFactory[FailureGroup] = class_row(FailureGroup)
AUDIT_ENTRY: BaseRowFactory[AuditEntry] = class_row(AuditEntry)
JOB: BaseRowFactory[Job] = args_row(_job)
