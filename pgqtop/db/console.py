"""The console's side (and an operator's commands): what the fleet is doing, the jobs and
failures to look into, and control over it: pause, resume, cancel, purge, requeue.

A console may also enqueue (an operator's one-off job), so ConsoleQueries is a producer's
Queries as well, plus the pauses and schedules a worker reads too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from pgqtop.config import ObjectNames
from pgqtop.db import rows
from pgqtop.db.producer import DEFAULT_MAX_PAYLOAD_BYTES, Queries
from pgqtop.db.rows import FailureDetail, FailureSummary, QueueCount, SeriesPoint, WorkerInfo
from pgqtop.db.session import FleetReads
from pgqtop.db.statements.console import console_statements
from pgqtop.model import Job, purge_statuses


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


class ConsoleQueries(Queries, FleetReads):
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

    async def recent_outcomes(self, seconds: float = 60.0) -> dict[tuple[str, str], int]:
        found = await self._tuples(self.console_sql.recent_outcomes, {"seconds": seconds})
        return {(r[0], r[1]): int(r[2]) for r in found}

    async def statistics_series(self, window: float, bucket: float) -> list[SeriesPoint]:
        params = {"window": window, "bucket": bucket}
        return await self._built(self.console_sql.statistics_series, params, rows.SERIES_POINT)

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
        row = await self._tuple(
            self.console_sql.pause,
            {
                "entrypoints": list(entrypoints),
                "seconds": seconds,
                "by": by,
                "reason": reason,
                "channel": self.names.channel,
                "message": control_message("pause", entrypoints),
            },
        )
        return int(row[0])

    async def resume(self, entrypoints: Sequence[str]) -> int:
        row = await self._tuple(
            self.console_sql.resume,
            {
                "entrypoints": list(entrypoints),
                "channel": self.names.channel,
                "message": control_message("resume", entrypoints),
            },
        )
        return int(row[0])

    async def resume_all(self) -> int:
        """Lift every pause; returns how many were still in force."""
        row = await self._tuple(self.console_sql.resume_all, {"channel": self.names.channel})
        return int(row[0])

    async def cancel(self, job_ids: Sequence[int]) -> int:
        """Ask for these running jobs to be canceled: the request is written on each job
        (which needs the console grant) and the NOTIFY wakes the holders to read it; each
        records its job as canceled. Returns how many requests were written: jobs not
        running, or asked already, are left alone."""
        row = await self._tuple(
            self.console_sql.cancel,
            {"ids": [int(i) for i in job_ids], "channel": self.names.channel},
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
        self, entrypoints: Sequence[str] | None = None, statuses: Iterable[str] | None = None
    ) -> int:
        """Delete matching jobs (queued by default), counted as 'deleted' in statistics."""
        row = await self._tuple(self.console_sql.purge, _purge_filter(entrypoints, statuses))
        return int(row[0])

    async def requeue_failures(
        self, ids: Sequence[int] | None = None, entrypoint: str | None = None
    ) -> int:
        """Put failed jobs back in the queue as new jobs; each failure is requeued once."""
        row = await self._tuple(
            self.console_sql.requeue_failures,
            {"ids": list(ids) if ids is not None else None, "entrypoint": entrypoint},
        )
        return int(row[0])

    async def count_requeueable(self, entrypoint: str | None = None) -> int:
        """How many final failures `requeue_failures(entrypoint=...)` would put back."""
        row = await self._tuple(self.console_sql.count_requeueable, {"entrypoint": entrypoint})
        return int(row[0])
