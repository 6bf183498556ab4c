"""The console's side (and an operator's commands): what the fleet is doing, the jobs and
failures to look into, and control over it: pause, resume, cancel, purge, requeue.

A console may also enqueue (an operator's one-off job), so ConsoleQueries is a producer's
Queries as well, plus the pauses and schedules a worker reads too, the queue history, failure
groups and the audit trail.

Every control statement records its audit entry itself (who: `by`, the OS user and host; what:
the target; why: the reason; the database adds its role, the time and the count), so an action
and its record commit together. The chunked steps of a long purge or requeue record nothing:
their caller runs them in one transaction and records the whole (AuditTrail.record_audit).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import BaseRowFactory, tuple_row

from pgqtop.config import ObjectNames
from pgqtop.db import rows
from pgqtop.db.audit import AuditTrail
from pgqtop.db.history import HistoryReads, assemble
from pgqtop.db.producer import DEFAULT_MAX_PAYLOAD_BYTES, Queries
from pgqtop.db.rows import (
    FailureDetail,
    FailureGroup,
    FailureSummary,
    FinishedJob,
    InFlightJob,
    JobFailure,
    LatencyHistograms,
    PauseInfo,
    QueueCount,
    QueueDepth,
    ScheduleInfo,
    SeriesPoint,
    WorkerInfo,
)
from pgqtop.db.session import FleetReads
from pgqtop.db.statements.audit import audit_statements
from pgqtop.db.statements.console import console_statements
from pgqtop.db.statements.history import history_statements
from pgqtop.db.statements.shared import shared_statements
from pgqtop.db.statements.triage import triage_statements
from pgqtop.db.triage import FailureTriage
from pgqtop.model import ALL_ENTRYPOINTS, Job, Status, purge_statuses
from pgqtop.model.audit import AuditEntry, list_target
from pgqtop.model.history import HistorySample


def control_message(op: str, entrypoints: Iterable[str]) -> str:
    """The NOTIFY payload that tells every worker and console a pause changed."""
    return json.dumps({"op": op, "entrypoints": sorted(set(entrypoints))})


def _purge_filter(
    entrypoints: Sequence[str] | None, statuses: Iterable[str] | None
) -> dict[str, Any]:
    """Parameters shared by the purge and its count, so the count shown is what is deleted."""
    return {
        "entrypoints": list(entrypoints) if entrypoints else None,
        "statuses": purge_statuses(statuses),
    }


def purge_target(entrypoints: Sequence[str] | None, statuses: Sequence[str]) -> str:
    """What a purge names in the audit trail: the entrypoints (`*` for all) and, when it is
    not the queued jobs only, the statuses."""
    names = ", ".join(entrypoints) if entrypoints else ALL_ENTRYPOINTS
    return names if list(statuses) == [Status.QUEUED] else f"{names} ({', '.join(statuses)})"


def requeue_target(
    ids: Sequence[int] | None, entrypoint: str | None, fingerprint: str | None
) -> str:
    """What a requeue names in the audit trail: failures by id, of an entrypoint, of a group."""
    parts = []
    if ids is not None:
        parts.append(list_target("failure", [str(i) for i in ids]))
    if fingerprint is not None:
        parts.append(f"group {fingerprint}")
    if entrypoint is not None:
        parts.append(f"failures of {entrypoint}")
    return "; ".join(parts) or "every failure"


@dataclasses.dataclass(frozen=True, slots=True)
class SlowPoll:
    """What the console reads every few seconds, in one round trip."""

    workers: list[WorkerInfo]
    held: list[InFlightJob]
    failures: list[FailureSummary]
    failed: dict[str, int]
    """Failures per entrypoint over the failures window."""
    paused: list[PauseInfo]
    schedules: list[ScheduleInfo]
    audit: list[AuditEntry]
    """The audit trail of the chart's window."""
    groups: list[FailureGroup] | None
    """Failure groups, when asked for."""


@dataclasses.dataclass(frozen=True, slots=True)
class StatsPoll:
    """What the console reads for its chart every second or two, in one round trip."""

    outcomes: dict[tuple[str, str], int]
    """Jobs finished in the last minute by (entrypoint, status)."""
    series: list[SeriesPoint]
    history: list[HistorySample] | None
    """The queue history of the window, when asked for."""


class ConsoleQueries(Queries, FleetReads, HistoryReads, FailureTriage, AuditTrail):
    """Watching and operating one queue on one async autocommit connection."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        names: ObjectNames | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        super().__init__(conn, names, max_payload_bytes)
        self.console_sql = console_statements(self.names)

    # --- watching -----------------------------------------------------------------------------

    async def queue_counts(self) -> list[QueueCount]:
        return await self._built(self.console_sql.queue_counts, {}, rows.QUEUE_COUNT)

    async def queue_depths(self) -> list[QueueDepth]:
        """Due, scheduled and picked per entrypoint with waiting or running jobs."""
        return await self._built(self.console_sql.queue_depths, {}, rows.QUEUE_DEPTH)

    async def recent_outcomes(self, seconds: float = 60.0) -> dict[tuple[str, str], int]:
        found = await self._tuples(self.console_sql.recent_outcomes, {"seconds": seconds})
        return {(r[0], r[1]): int(r[2]) for r in found}

    async def statistics_series(self, window: float, bucket: float) -> list[SeriesPoint]:
        params = {"window": window, "bucket": bucket}
        return await self._built(self.console_sql.statistics_series, params, rows.SERIES_POINT)

    async def slow_poll(
        self,
        *,
        failure_rows: int,
        failure_window: float,
        audit_window: float,
        audit_rows: int,
        groups: bool,
    ) -> SlowPoll:
        """The workers, their running jobs, the recent failures and their counts, the pauses,
        the schedules, the chart's audit trail and (if asked) the failure groups: one round
        trip."""
        shared = shared_statements(self.names)
        reads: list[tuple[bytes, Mapping[str, Any], BaseRowFactory[Any]]] = [
            (self.console_sql.workers, {}, rows.WORKER_INFO),
            (self.console_sql.in_flight, {"worker": None}, rows.IN_FLIGHT_JOB),
            (
                self.console_sql.recent_failures,
                {"limit": failure_rows, "entrypoint": None},
                rows.FAILURE_SUMMARY,
            ),
            (self.console_sql.failures_since, {"seconds": failure_window}, tuple_row),
            (shared.paused, {}, rows.PAUSE_INFO),
            (shared.schedules, {"entrypoints": None}, rows.SCHEDULE_INFO),
            (
                audit_statements(self.names).log,
                {"seconds": audit_window, "limit": audit_rows},
                rows.AUDIT_ENTRY,
            ),
        ]
        if groups:
            reads.append(
                (
                    triage_statements(self.names).failure_groups,
                    {"entrypoint": None, "seconds": None, "limit": failure_rows},
                    rows.FAILURE_GROUP,
                )
            )
        found = await self._pipelined(reads)
        return SlowPoll(
            workers=found[0],
            held=found[1],
            failures=found[2],
            failed={r[0]: int(r[1]) for r in found[3]},
            paused=found[4],
            schedules=found[5],
            audit=found[6],
            groups=found[7] if groups else None,
        )

    async def stats_poll(self, window: float, bucket: float, *, history: bool) -> StatsPoll:
        """The last minute's outcomes, the chart's series and (if asked) the queue history
        of its window: one round trip."""
        reads: list[tuple[bytes, Mapping[str, Any], BaseRowFactory[Any]]] = [
            (self.console_sql.recent_outcomes, {"seconds": 60.0}, tuple_row),
            (
                self.console_sql.statistics_series,
                {"window": window, "bucket": bucket},
                rows.SERIES_POINT,
            ),
        ]
        if history:
            reads.append(
                (
                    history_statements(self.names).queue_history,
                    {"window": window, "bucket": bucket, "entrypoint": None},
                    rows.HISTORY_ROW,
                )
            )
        found = await self._pipelined(reads)
        return StatsPoll(
            outcomes={(r[0], r[1]): int(r[2]) for r in found[0]},
            series=found[1],
            history=assemble(found[2], None) if history else None,
        )

    async def workers(self) -> list[WorkerInfo]:
        return await self._built(self.console_sql.workers, {}, rows.WORKER_INFO)

    async def recent_failures(
        self, limit: int = 100, entrypoint: str | None = None
    ) -> list[FailureSummary]:
        params = {"limit": limit, "entrypoint": entrypoint}
        return await self._built(self.console_sql.recent_failures, params, rows.FAILURE_SUMMARY)

    async def failures_since(self, seconds: float) -> dict[str, int]:
        found = await self._tuples(self.console_sql.failures_since, {"seconds": seconds})
        return {r[0]: int(r[1]) for r in found}

    async def failure_detail(self, failure_id: int) -> FailureDetail | None:
        found = await self._built(
            self.console_sql.failure_detail, {"id": failure_id}, rows.FAILURE_DETAIL
        )
        return found[0] if found else None

    async def job_detail(self, job_id: int) -> Job | None:
        found = await self._built(self.console_sql.job_detail, {"id": job_id}, rows.JOB)
        return found[0] if found else None

    async def browse_jobs(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        entrypoint: str | None = None,
        status: str | None = None,
    ) -> list[Job]:
        """One page of jobs in id order, after the last id seen (keyset paging)."""
        params = {"after": after, "limit": limit, "entrypoint": entrypoint, "status": status}
        return await self._built(self.console_sql.browse_jobs, params, rows.JOB)

    async def latency_histograms(self, seconds: float) -> list[LatencyHistograms]:
        """Each entrypoint's wait and run histograms summed over the last `seconds`."""
        params = {"seconds": seconds}
        return await self._built(
            self.console_sql.latency_histograms, params, rows.LATENCY_HISTOGRAMS
        )

    async def live_job(self, job_id: int) -> tuple[Job, dt.datetime] | None:
        """A job still waiting or running, and the database's clock as it was read."""
        found = await self._tuples(self.console_sql.live_job, {"id": job_id})
        if not found:
            return None
        *columns, read_at = found[0]
        return rows.job_from_row(columns), read_at

    def _both_channels(self) -> dict[str, str]:
        """The channels a control change notifies (statements.console NOTIFY_BOTH): the
        consoles' and the workers'."""
        return {"channel": self.names.channel, "work_channel": self.names.work_channel}

    async def finished_job(self, job_id: int) -> FinishedJob | None:
        """How a job ended, while the finished table still keeps it. A hot standby has none:
        the table is unlogged (schema.FINISHED), and PostgreSQL refuses to read one there."""
        if await self.in_recovery():
            return None
        found = await self._built(self.console_sql.finished_job, {"id": job_id}, rows.FINISHED_JOB)
        return found[0] if found else None

    async def job_failures(self, job_id: int) -> list[JobFailure]:
        """Every failed attempt of a job still in the failures table, oldest first."""
        return await self._built(self.console_sql.job_failures, {"id": job_id}, rows.JOB_FAILURE)

    async def in_flight(self, worker: uuid.UUID | None = None) -> list[InFlightJob]:
        """Picked jobs, longest running first: one worker's, or every worker's."""
        return await self._built(self.console_sql.in_flight, {"worker": worker}, rows.IN_FLIGHT_JOB)

    async def server_version(self) -> str:
        row = await self._tuple(self.console_sql.server_version, {})
        return str(row[0])

    # --- control ------------------------------------------------------------------------------

    async def pause(
        self,
        entrypoints: Sequence[str],
        *,
        seconds: float | None = None,
        by: str = "",
        reason: str = "",
    ) -> int:
        """Pause entrypoints for the fleet (`seconds`: then resume by themselves); returns
        how many pauses were written."""
        row = await self._tuple(
            self.console_sql.pause,
            {
                "entrypoints": list(entrypoints),
                "seconds": seconds,
                "actor": by,
                "target": ", ".join(entrypoints),
                "reason": reason,
                **self._both_channels(),
                "message": control_message("pause", entrypoints),
            },
        )
        return int(row[0])

    async def resume(self, entrypoints: Sequence[str], *, by: str = "", reason: str = "") -> int:
        """Lift the pauses of these control keys; returns how many were still in force."""
        row = await self._tuple(
            self.console_sql.resume,
            {
                "entrypoints": list(entrypoints),
                "actor": by,
                "target": ", ".join(entrypoints),
                "reason": reason,
                **self._both_channels(),
                "message": control_message("resume", entrypoints),
            },
        )
        return int(row[0])

    async def resume_all(self, *, by: str = "", reason: str = "") -> int:
        """Lift every pause; returns how many were still in force."""
        params = {
            "actor": by,
            "target": ALL_ENTRYPOINTS,
            "reason": reason,
            **self._both_channels(),
        }
        row = await self._tuple(self.console_sql.resume_all, params)
        return int(row[0])

    async def cancel(self, job_ids: Sequence[int]) -> int:
        """Ask for these running jobs to be canceled: the request is written on each job
        (which needs the console grant) and the NOTIFY wakes the holders to read it; each
        records its job as canceled. Returns how many requests were written: jobs not
        running, or asked already, are left alone."""
        row = await self._tuple(
            self.console_sql.cancel,
            {
                "ids": [int(i) for i in job_ids],
                **self._both_channels(),
            },
        )
        return int(row[0])

    # --- maintenance --------------------------------------------------------------------------

    async def count_matching(
        self, entrypoints: Sequence[str] | None = None, statuses: Iterable[str] | None = None
    ) -> int:
        """How many jobs a purge with the same arguments would delete."""
        row = await self._tuple(
            self.console_sql.count_matching, _purge_filter(entrypoints, statuses)
        )
        return int(row[0])

    async def purge(
        self,
        entrypoints: Sequence[str] | None = None,
        statuses: Iterable[str] | None = None,
        *,
        by: str = "",
        reason: str = "",
    ) -> int:
        """Delete matching jobs (queued by default), counted as 'deleted' in statistics."""
        params = _purge_filter(entrypoints, statuses)
        params |= {
            "actor": by,
            "target": purge_target(params["entrypoints"], params["statuses"]),
            "reason": reason,
            "channel": self.names.channel,
        }
        row = await self._tuple(self.console_sql.purge, params)
        return int(row[0])

    async def purge_chunk(
        self,
        entrypoints: Sequence[str] | None,
        statuses: Iterable[str] | None,
        *,
        after: int,
        limit: int,
    ) -> tuple[int, int | None]:
        """Delete the next `limit` matching jobs with ids above `after`, without an audit
        entry (the caller records the whole); returns how many went and the last id looked at
        (None: nothing left)."""
        params = _purge_filter(entrypoints, statuses) | {"after": after, "limit": limit}
        row = await self._tuple(self.console_sql.purge_chunk, params)
        return int(row[0]), row[1]

    async def requeue_failures(
        self,
        ids: Sequence[int] | None = None,
        entrypoint: str | None = None,
        *,
        fingerprint: str | None = None,
        by: str = "",
        reason: str = "",
    ) -> int:
        """Put failed jobs back in the queue as new jobs; each failure is requeued once."""
        params = _requeue_filter(ids, entrypoint, fingerprint)
        params |= {
            "actor": by,
            "target": requeue_target(ids, entrypoint, fingerprint),
            "reason": reason,
            "channel": self.names.channel,
        }
        row = await self._tuple(self.console_sql.requeue_failures, params)
        return int(row[0])

    async def requeue_chunk(
        self,
        ids: Sequence[int] | None,
        entrypoint: str | None,
        fingerprint: str | None,
        *,
        after: int,
        limit: int,
    ) -> tuple[int, int | None]:
        """Requeue the next `limit` matching failures with ids above `after`, without an audit
        entry (the caller records the whole); returns how many and the last id looked at."""
        params = _requeue_filter(ids, entrypoint, fingerprint) | {"after": after, "limit": limit}
        row = await self._tuple(self.console_sql.requeue_chunk, params)
        return int(row[0]), row[1]

    async def count_requeueable(
        self,
        entrypoint: str | None = None,
        *,
        ids: Sequence[int] | None = None,
        fingerprint: str | None = None,
    ) -> int:
        """How many final failures `requeue_failures` with the same filter would put back."""
        params = _requeue_filter(ids, entrypoint, fingerprint)
        row = await self._tuple(self.console_sql.count_requeueable, params)
        return int(row[0])

    async def count_running(self, job_ids: Sequence[int]) -> int:
        """How many of these jobs a worker is running now (what a cancel would stop)."""
        row = await self._tuple(self.console_sql.count_running, {"ids": list(job_ids)})
        return int(row[0])


def _requeue_filter(
    ids: Sequence[int] | None, entrypoint: str | None, fingerprint: str | None
) -> dict[str, Any]:
    """Parameters shared by a requeue and its count, so the count shown is what is requeued."""
    return {
        "ids": list(ids) if ids is not None else None,
        "entrypoint": entrypoint,
        "fingerprint": fingerprint,
    }
