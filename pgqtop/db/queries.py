"""Every SQL statement pgqtop runs, composed once per object prefix.

Batch work always travels as arrays (`unnest`, `= ANY`), one statement per batch: one to enqueue
many jobs, one to take a batch, one to finish a batch (delete + statistics + failures + retries).
`Queries` runs them on an async connection; `SyncQueries` offers the producer side to sync code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import itertools
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, LiteralString, cast

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pgqtop.config import ObjectNames
from pgqtop.engine.job import (
    JOB_COLUMNS,
    PICKED_COLUMNS,
    Job,
    Outcome,
    Status,
    job_from_row,
    picked_job_from_row,
)
from pgqtop.errors import PayloadTooLarge, PgqtopError, UsageError


class DuplicateJob(PgqtopError):
    """An enqueue with the `error` dedupe policy met a waiting job with the same key."""


class OnDuplicate(enum.StrEnum):
    """What to do when a dedupe key is already waiting or running."""

    ERROR = "error"
    SKIP = "skip"
    KEEP_HIGHER_PRIORITY = "keep-higher-priority"


PayloadLike = bytes | str | None


@dataclasses.dataclass(slots=True)
class NewJob:
    """One job to enqueue."""

    entrypoint: str
    payload: PayloadLike = None
    priority: int = 0
    headers: dict[str, Any] | None = None
    execute_after: float = 0.0
    """Delay in seconds from now."""
    dedupe_key: str | None = None


def _identifiers(names: ObjectNames) -> dict[str, sql.Identifier]:
    return {
        "jobs": sql.Identifier(names.jobs),
        "statistics": sql.Identifier(names.statistics),
        "failures": sql.Identifier(names.failures),
        "control": sql.Identifier(names.control),
        "workers": sql.Identifier(names.workers),
        "schedules": sql.Identifier(names.schedules),
        "status": sql.Identifier(names.status_type),
    }


def _compose(text: LiteralString, names: ObjectNames) -> sql.Composed:
    return sql.SQL(text).format(**_identifiers(names))


_JOB_SELECT = ", ".join(JOB_COLUMNS)
# What the dequeue's UPDATE does not already tell: status ('picked'), heartbeat (= updated,
# the same now()) and worker_id (the caller) are filled in by picked_job_from_row, which
# saves decoding three values and building a UUID per job taken.
_PICKED_SELECT_J = ", ".join(f"j.{c}" for c in PICKED_COLUMNS)


class Statements:
    """The composed statements for one prefix; built once, reused for every call."""

    def __init__(self, names: ObjectNames) -> None:
        self.names = names
        c = functools.partial(_compose, names=names)
        columns: LiteralString = (
            "INSERT INTO {jobs} AS j (priority, entrypoint, payload, headers, execute_after, "
            "dedupe_key) "
        )
        many: LiteralString = (
            "SELECT p, e, pl, h, now() + make_interval(secs => d), k "
            "FROM unnest(%(priorities)b::int[], %(entrypoints)b::text[], %(payloads)b::bytea[], "
            "%(headers)b::jsonb[], %(delays)b::float8[], %(keys)b::text[]) AS t(p, e, pl, h, d, k) "
        )
        # One job (the common call from a web request) as plain values: a fifth less time
        # per call than six one-element arrays through unnest.
        one: LiteralString = (
            "VALUES (%(priorities)s::int, %(entrypoints)s::text, %(payloads)s::bytea, "
            "%(headers)s::jsonb, now() + make_interval(secs => %(delays)s::float8), "
            "%(keys)s::text) "
        )
        conflict: LiteralString = (
            "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL "
            "AND status IN ('queued', 'picked') "
        )
        endings: dict[OnDuplicate, LiteralString] = {
            OnDuplicate.ERROR: "RETURNING j.id",
            OnDuplicate.SKIP: conflict + "DO NOTHING RETURNING j.id",
            OnDuplicate.KEEP_HIGHER_PRIORITY: conflict
            + "DO UPDATE SET priority = greatest(j.priority, EXCLUDED.priority), "
            "updated = now() RETURNING j.id",
        }
        self.enqueue = {policy: c(columns + many + end) for policy, end in endings.items()}
        self.enqueue_one = {policy: c(columns + one + end) for policy, end in endings.items()}
        self.copy_jobs = c(
            "COPY {jobs} (priority, entrypoint, payload, headers, execute_after, dedupe_key) "
            "FROM STDIN (FORMAT BINARY)"
        )
        # Take a batch. Per entrypoint (only those with room, minus paused ones) the best queued
        # rows and the stalled picked rows are locked with SKIP LOCKED; a window function keeps
        # each entrypoint within its room, the batch limit keeps priority-then-FIFO order.
        self.dequeue = c(
            "WITH ready AS ("
            " SELECT r.name, r.room FROM unnest(%(entrypoints)s::text[], %(rooms)s::int[])"
            " AS r(name, room) WHERE r.room > 0 AND NOT EXISTS ("
            "  SELECT 1 FROM {control} c WHERE c.entrypoint IN (r.name, '*')"
            "  AND (c.paused_until IS NULL OR c.paused_until > now()))"
            "), queued AS ("
            " SELECT q.id, q.priority, r.name, r.room, 1 AS fresh FROM ready r"
            " CROSS JOIN LATERAL (SELECT id, priority FROM {jobs}"
            "  WHERE entrypoint = r.name AND status = 'queued' AND execute_after <= now()"
            "  ORDER BY priority DESC, id LIMIT least(r.room, %(batch)s)"
            "  FOR UPDATE SKIP LOCKED) q"
            "), stalled AS ("
            " SELECT s.id, s.priority, r.name, r.room, 0 AS fresh FROM ready r"
            " CROSS JOIN LATERAL (SELECT id, priority FROM {jobs}"
            "  WHERE %(retry_seconds)s::float8 > 0 AND status = 'picked'"
            "  AND heartbeat < now() - make_interval(secs => %(retry_seconds)s::float8)"
            "  AND entrypoint = r.name ORDER BY heartbeat LIMIT least(r.room, %(batch)s)"
            "  FOR UPDATE SKIP LOCKED) s"
            "), ranked AS ("
            " SELECT id, priority, room, row_number() OVER ("
            "  PARTITION BY name ORDER BY fresh, priority DESC, id) AS n"
            " FROM (SELECT * FROM stalled UNION ALL SELECT * FROM queued) u"
            "), chosen AS ("
            " SELECT id FROM ranked WHERE n <= room ORDER BY priority DESC, id LIMIT %(batch)s"
            ") UPDATE {jobs} j SET status = 'picked', updated = now(), heartbeat = now(),"
            " worker_id = %(worker)s, attempts = j.attempts + 1"
            # = ANY(ARRAY(...)) keeps this a primary-key lookup whatever the planner's estimates.
            " WHERE j.id = ANY(ARRAY(SELECT id FROM chosen)) RETURNING " + _PICKED_SELECT_J
        )
        # Finish a batch in one statement: delete what ended, put retries back, record failures,
        # and upsert per-second statistics with rows sorted by the unique key so that concurrent
        # flushes lock statistics rows in the same order and cannot deadlock.
        self.complete = c(
            "WITH deleted AS ("
            # Only the worker that holds a job may finish it: a job re-taken by another worker
            # after the retry timer carries the new worker's id and is left alone.
            " DELETE FROM {jobs} j WHERE j.id = ANY(%(done_ids)b::bigint[])"
            " AND j.worker_id = %(worker)s"
            " RETURNING j.id, j.entrypoint, j.priority, j.payload, j.headers, j.attempts,"
            " j.created, greatest(extract(epoch FROM j.updated - greatest(j.created,"
            " j.execute_after)), 0)::float8 AS queue_seconds"
            "), finished AS ("
            " SELECT d.*, o.status::{status} AS status, o.run_seconds, o.error, o.traceback"
            " FROM deleted d JOIN unnest(%(done_ids)b::bigint[], %(done_statuses)b::text[],"
            " %(done_run_seconds)b::float8[], %(done_errors)b::text[],"
            " %(done_tracebacks)b::text[]) AS o(id, status, run_seconds, error, traceback)"
            " ON o.id = d.id"
            "), retried AS ("
            " UPDATE {jobs} j SET status = 'queued', updated = now(), worker_id = NULL,"
            " execute_after = now() + make_interval(secs => o.retry_in)"
            " FROM unnest(%(retry_ids)b::bigint[], %(retry_in)b::float8[],"
            " %(retry_errors)b::text[], %(retry_tracebacks)b::text[])"
            " AS o(id, retry_in, error, traceback)"
            " WHERE j.id = ANY(%(retry_ids)b::bigint[]) AND j.id = o.id"
            " AND j.worker_id = %(worker)s"
            # Without retries this is a one-time filter that skips the UPDATE's scan; otherwise
            # the planner may walk every picked row looking for an empty id list.
            " AND cardinality(%(retry_ids)b::bigint[]) > 0"
            " RETURNING j.id, j.entrypoint, j.priority, j.payload, j.headers, j.attempts,"
            " j.created, o.error, o.traceback"
            "), failed AS ("
            " INSERT INTO {failures} (job_id, entrypoint, priority, payload, headers, attempts,"
            " status, final, error, traceback, job_created, worker_id)"
            " SELECT id, entrypoint, priority, payload, headers, attempts, status, true, error,"
            " traceback, created, %(worker)s FROM finished WHERE status <> 'successful'"
            " UNION ALL"
            " SELECT id, entrypoint, priority, payload, headers, attempts, 'exception', false,"
            " error, traceback, created, %(worker)s FROM retried"
            " RETURNING 1"
            "), counted AS ("
            " INSERT INTO {statistics} AS s (created, entrypoint, status, priority, count,"
            " queue_seconds_sum, queue_seconds_max, run_seconds_sum, run_seconds_max)"
            " SELECT date_trunc('second', now()), entrypoint, status, priority, count(*),"
            " sum(queue_seconds), max(queue_seconds), sum(run_seconds), max(run_seconds)"
            " FROM finished GROUP BY entrypoint, status, priority"
            " ORDER BY 1, 2, 3, 4"
            " ON CONFLICT (created, entrypoint, status, priority) DO UPDATE SET"
            " count = s.count + EXCLUDED.count,"
            " queue_seconds_sum = s.queue_seconds_sum + EXCLUDED.queue_seconds_sum,"
            " queue_seconds_max = greatest(s.queue_seconds_max, EXCLUDED.queue_seconds_max),"
            " run_seconds_sum = s.run_seconds_sum + EXCLUDED.run_seconds_sum,"
            " run_seconds_max = greatest(s.run_seconds_max, EXCLUDED.run_seconds_max)"
            " RETURNING 1"
            ") SELECT (SELECT count(*) FROM finished), (SELECT count(*) FROM retried),"
            " (SELECT count(*) FROM failed), (SELECT count(*) FROM counted)"
        )
        self.heartbeat = c(
            "WITH beat AS ("
            " UPDATE {jobs} SET heartbeat = now() WHERE id = ANY(%(ids)s::bigint[])"
            " AND status = 'picked' AND worker_id = %(worker)s RETURNING 1"
            ") INSERT INTO {workers} AS w (id, host, pid, version, entrypoints, concurrency,"
            " in_flight, processed, failed, state) VALUES (%(worker)s, %(host)s, %(pid)s,"
            " %(version)s, %(entrypoints)s, %(concurrency)s, %(in_flight)s, %(processed)s,"
            " %(failed)s, %(state)s)"
            " ON CONFLICT (id) DO UPDATE SET heartbeat = now(), in_flight = EXCLUDED.in_flight,"
            " processed = EXCLUDED.processed, failed = EXCLUDED.failed,"
            " concurrency = EXCLUDED.concurrency, entrypoints = EXCLUDED.entrypoints,"
            " state = EXCLUDED.state"
            " RETURNING (SELECT count(*) FROM beat)"
        )
        self.deregister = c("DELETE FROM {workers} WHERE id = %(worker)s")
        self.workers = c(
            "SELECT id, host, pid, version, entrypoints, concurrency, started, heartbeat,"
            " in_flight, processed, failed, state,"
            " extract(epoch FROM now() - heartbeat)::float8 AS heartbeat_age"
            " FROM {workers} ORDER BY host, pid, started"
        )
        self.queue_counts = c(
            "SELECT entrypoint, status::text, count(*),"
            " extract(epoch FROM now() - min(created))::float8"
            " FROM {jobs} GROUP BY entrypoint, status ORDER BY entrypoint, status"
        )
        self.recent_outcomes = c(
            "SELECT entrypoint, status::text, sum(count)::bigint FROM {statistics}"
            " WHERE created >= now() - make_interval(secs => %(seconds)s::float8)"
            " GROUP BY entrypoint, status"
        )
        self.statistics_series = c(
            "SELECT date_bin(make_interval(secs => %(bucket)s::float8), created,"
            " timestamptz '2000-01-01') AS bucket, entrypoint, status::text,"
            " sum(count)::bigint, sum(queue_seconds_sum), max(queue_seconds_max),"
            " sum(run_seconds_sum), max(run_seconds_max)"
            " FROM {statistics}"
            " WHERE created >= now() - make_interval(secs => %(window)s::float8)"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        self.count_matching = c(
            "SELECT count(*) FROM {jobs} WHERE status::text = ANY(%(statuses)s::text[])"
            " AND (%(entrypoints)s::text[] IS NULL OR entrypoint = ANY(%(entrypoints)s::text[]))"
        )
        self.purge = c(
            "WITH gone AS ("
            " DELETE FROM {jobs} WHERE status::text = ANY(%(statuses)s::text[])"
            " AND (%(entrypoints)s::text[] IS NULL OR entrypoint = ANY(%(entrypoints)s::text[]))"
            " RETURNING entrypoint, priority"
            "), counted AS ("
            " INSERT INTO {statistics} AS s (created, entrypoint, status, priority, count)"
            " SELECT date_trunc('second', now()), entrypoint, 'deleted'::{status}, priority,"
            " count(*)"
            " FROM gone GROUP BY entrypoint, priority ORDER BY 1, 2, 3, 4"
            " ON CONFLICT (created, entrypoint, status, priority) DO UPDATE"
            " SET count = s.count + EXCLUDED.count RETURNING count"
            ") SELECT count(*) FROM gone"
        )
        self.recent_failures = c(
            "SELECT id, job_id, entrypoint, priority, attempts, status::text, final, error,"
            " failed_at, requeued_at FROM {failures}"
            " WHERE (%(entrypoint)s::text IS NULL OR entrypoint = %(entrypoint)s)"
            " ORDER BY id DESC LIMIT %(limit)s"
        )
        self.failure_detail = c(
            "SELECT id, job_id, entrypoint, priority, payload, headers, attempts, status::text,"
            " final, error, traceback, job_created, failed_at, worker_id, requeued_at"
            " FROM {failures} WHERE id = %(id)s"
        )
        self.failures_since = c(
            "SELECT entrypoint, count(*) FROM {failures}"
            " WHERE final AND failed_at >= now() - make_interval(secs => %(seconds)s::float8)"
            " GROUP BY entrypoint"
        )
        self.requeue_failures = c(
            "WITH picked AS ("
            " UPDATE {failures} SET requeued_at = now()"
            " WHERE final AND requeued_at IS NULL"
            " AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s::bigint[]))"
            " AND (%(entrypoint)s::text IS NULL OR entrypoint = %(entrypoint)s)"
            " RETURNING entrypoint, priority, payload, headers"
            "), inserted AS ("
            " INSERT INTO {jobs} (entrypoint, priority, payload, headers)"
            " SELECT entrypoint, priority, payload, headers FROM picked RETURNING 1"
            ") SELECT count(*) FROM inserted"
        )
        self.job_detail = c("SELECT " + _JOB_SELECT + " FROM {jobs} WHERE id = %(id)s")
        self.browse_jobs = c(
            "SELECT " + _JOB_SELECT + " FROM {jobs}"
            " WHERE id > %(after)s"
            " AND (%(entrypoint)s::text IS NULL OR entrypoint = %(entrypoint)s)"
            " AND (%(status)s::text IS NULL OR status::text = %(status)s)"
            " ORDER BY id LIMIT %(limit)s"
        )
        self.pause = c(
            "WITH paused AS ("
            " INSERT INTO {control} AS c (entrypoint, paused_at, paused_until, paused_by, reason)"
            " SELECT e, now(), CASE WHEN %(seconds)s::float8 IS NULL THEN NULL"
            " ELSE now() + make_interval(secs => %(seconds)s::float8) END, %(by)s, %(reason)s"
            " FROM unnest(%(entrypoints)s::text[]) AS e"
            " ON CONFLICT (entrypoint) DO UPDATE SET paused_at = EXCLUDED.paused_at,"
            " paused_until = EXCLUDED.paused_until, paused_by = EXCLUDED.paused_by,"
            " reason = EXCLUDED.reason RETURNING entrypoint"
            ") SELECT count(*), pg_notify(%(channel)s, %(message)s)::text FROM paused"
        )
        self.resume = c(
            "WITH resumed AS ("
            " DELETE FROM {control} WHERE entrypoint = ANY(%(entrypoints)s::text[])"
            " AND (paused_until IS NULL OR paused_until > now()) RETURNING entrypoint"
            "), expired AS ("
            " DELETE FROM {control} WHERE entrypoint = ANY(%(entrypoints)s::text[])"
            " AND paused_until <= now() RETURNING entrypoint"
            ") SELECT (SELECT count(*) FROM resumed), pg_notify(%(channel)s, %(message)s)::text"
        )
        self.paused = c(
            "SELECT entrypoint, paused_at, paused_until, paused_by, reason,"
            " extract(epoch FROM paused_until - now())::float8"
            " FROM {control} WHERE paused_until IS NULL OR paused_until > now()"
            " ORDER BY entrypoint"
        )
        self.notify = sql.SQL("SELECT pg_notify(%(channel)s, %(message)s)")
        self.prune = c(
            "WITH old_failures AS ("
            " DELETE FROM {failures} WHERE failed_at < now() - make_interval("
            " secs => %(failure_seconds)s::float8) OR id <= (SELECT max(id) FROM {failures})"
            " - %(failure_rows)s RETURNING 1"
            "), old_statistics AS ("
            " DELETE FROM {statistics} WHERE created < now() - make_interval("
            " secs => %(statistics_seconds)s::float8) RETURNING 1"
            "), expired AS ("
            " DELETE FROM {control} WHERE paused_until <= now() RETURNING 1"
            "), gone_workers AS ("
            " DELETE FROM {workers} WHERE heartbeat < now() - interval '1 day' RETURNING 1"
            ") SELECT (SELECT count(*) FROM old_failures), (SELECT count(*) FROM old_statistics),"
            " (SELECT count(*) FROM expired), (SELECT count(*) FROM gone_workers)"
        )
        self.server_version = sql.SQL("SELECT current_setting('server_version')")
        # A queue table deletes all day: where the server's autovacuum is off, workers must
        # vacuum it themselves or every dequeue wades through dead index entries.
        self.jobs_need_vacuum = sql.SQL(
            "SELECT current_setting('autovacuum') = 'off'"
            " AND s.n_dead_tup > greatest(%(min_dead)s, s.n_live_tup * 0.1)"
            " FROM pg_stat_user_tables s WHERE s.relid = to_regclass(%(table)s)"
        )
        self.vacuum_jobs = sql.SQL("VACUUM (SKIP_LOCKED, ANALYZE) {}").format(
            sql.Identifier(names.jobs)
        )
        # `resume --all`: every pause row goes, the "*" key and expired rows included; the
        # count is of pauses that were still in force.
        self.resume_all = c(
            "WITH gone AS ("
            " DELETE FROM {control} RETURNING entrypoint,"
            " (paused_until IS NULL OR paused_until > now()) AS active"
            ") SELECT count(*) FILTER (WHERE active),"
            " pg_notify(%(channel)s, json_build_object('op', 'resume', 'entrypoints',"
            " coalesce(json_agg(entrypoint ORDER BY entrypoint), '[]'))::text)::text FROM gone"
        )
        # The console's "requeue all failures of X?" dialog shows this exact count first.
        self.count_requeueable = c(
            "SELECT count(*) FROM {failures} WHERE final AND requeued_at IS NULL"
            " AND (%(entrypoint)s::text IS NULL OR entrypoint = %(entrypoint)s)"
        )
        # An idle worker sleeps until the earliest delayed job (or retry) of its entrypoints is
        # due: no NOTIFY announces that moment.
        self.next_due = c(
            "SELECT extract(epoch FROM min(execute_after) - now())::float8 FROM {jobs}"
            " WHERE status = 'queued' AND entrypoint = ANY(%(entrypoints)s::text[])"
            " AND execute_after > now()"
        )
        # Schedules: a worker declares its own; a changed expression restarts the timetable.
        self.register_schedules = c(
            "INSERT INTO {schedules} AS s (entrypoint, expression, next_run)"
            " SELECT * FROM unnest(%(entrypoints)s::text[], %(expressions)s::text[],"
            " %(first_runs)s::timestamptz[])"
            " ON CONFLICT (entrypoint) DO UPDATE SET expression = EXCLUDED.expression,"
            " next_run = EXCLUDED.next_run, updated = now()"
            " WHERE s.expression IS DISTINCT FROM EXCLUDED.expression"
        )
        self.schedules = c(
            "SELECT entrypoint, expression, next_run, last_run,"
            " extract(epoch FROM next_run - now())::float8, now() FROM {schedules}"
            " WHERE %(entrypoints)s::text[] IS NULL OR entrypoint = ANY(%(entrypoints)s::text[])"
            " ORDER BY next_run, entrypoint"
        )
        # Take the due runs: a run is the (entrypoint, next_run) this worker last read. Whoever
        # locks the row first moves next_run on and enqueues the job in the same statement; a
        # worker that raced it skips the locked row or no longer matches the old next_run.
        self.claim_schedules = c(
            "WITH due AS ("
            " SELECT s.entrypoint, s.expression, s.next_run, u.following FROM {schedules} s"
            " JOIN unnest(%(entrypoints)s::text[], %(expected)s::timestamptz[],"
            " %(following)s::timestamptz[]) AS u(entrypoint, expected, following)"
            " ON s.entrypoint = u.entrypoint AND s.next_run = u.expected"
            " WHERE s.next_run <= now() ORDER BY s.entrypoint FOR UPDATE OF s SKIP LOCKED"
            "), moved AS ("
            " UPDATE {schedules} s SET next_run = d.following, last_run = now(), updated = now()"
            " FROM due d WHERE s.entrypoint = d.entrypoint"
            " RETURNING s.entrypoint, d.expression, d.next_run AS scheduled_for"
            "), queued AS ("
            # One run waiting or running at a time: a run that comes due while the last one
            # is still queued (paused, busy) or running is skipped, never piled up.
            " INSERT INTO {jobs} (entrypoint, headers, dedupe_key)"
            " SELECT entrypoint, jsonb_build_object('schedule', expression,"
            " 'scheduled_for', scheduled_for), 'schedule:' || entrypoint FROM moved"
            " ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL"
            " AND status IN ('queued', 'picked') DO NOTHING RETURNING id, entrypoint"
            ") SELECT m.entrypoint, q.id FROM moved m LEFT JOIN queued q USING (entrypoint)"
            " ORDER BY m.entrypoint"
        )


@functools.lru_cache(maxsize=64)
def statements(names: ObjectNames) -> Statements:
    return Statements(names)


# --- parameter building, shared by the async and sync runners ---------------------------------


def payload_bytes(payload: PayloadLike) -> bytes | None:
    if payload is None or isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    return payload.encode("utf-8")


def enqueue_parameters(jobs: Sequence[NewJob], max_payload_bytes: int) -> dict[str, Any]:
    """Column arrays for the enqueue statement; refuses bad names and oversize payloads before
    anything is written. Built column by column: this runs for every batch a producer sends."""
    entrypoints = [job.entrypoint for job in jobs]
    invalid = set(entrypoints) & {"", "*"}
    if invalid:
        raise UsageError(f"invalid entrypoint name {invalid.pop()!r}")
    payloads = [payload_bytes(job.payload) for job in jobs]
    largest = max((len(p) for p in payloads if p is not None), default=0)
    if largest > max_payload_bytes:
        raise PayloadTooLarge(
            f"payload of {largest} bytes exceeds the maximum of {max_payload_bytes} bytes"
        )
    return {
        "priorities": [job.priority for job in jobs],
        "entrypoints": entrypoints,
        "payloads": payloads,
        "headers": [None if job.headers is None else Jsonb(job.headers) for job in jobs],
        "delays": [float(job.execute_after) for job in jobs],
        "keys": [job.dedupe_key for job in jobs],
    }


def dedupe_within_batch(jobs: Sequence[NewJob], policy: OnDuplicate) -> list[NewJob]:
    """One row per dedupe key inside a batch (PostgreSQL cannot upsert a row twice)."""
    if policy is OnDuplicate.ERROR:
        seen: set[str] = set()
        for job in jobs:
            if job.dedupe_key is not None:
                if job.dedupe_key in seen:
                    raise DuplicateJob(f"dedupe key {job.dedupe_key!r} appears twice in one batch")
                seen.add(job.dedupe_key)
        return list(jobs)
    kept: dict[str, NewJob] = {}
    result: list[NewJob] = []
    for job in jobs:
        if job.dedupe_key is None:
            result.append(job)
            continue
        current = kept.get(job.dedupe_key)
        if current is None or (
            policy is OnDuplicate.KEEP_HIGHER_PRIORITY and job.priority > current.priority
        ):
            kept[job.dedupe_key] = job
    return result + list(kept.values())


def as_new_jobs(
    entrypoint: str | Sequence[str],
    payload: PayloadLike | Sequence[PayloadLike],
    priority: int | Sequence[int],
    headers: dict[str, Any] | Sequence[dict[str, Any] | None] | None,
    execute_after: float | Sequence[float],
    dedupe_key: str | Sequence[str | None] | None,
) -> list[NewJob]:
    """Accept single values or parallel lists, like a driver accepts a row or a batch."""
    if isinstance(entrypoint, str):
        return [
            NewJob(
                entrypoint,
                cast(PayloadLike, payload),
                cast(int, priority),
                cast("dict[str, Any] | None", headers),
                cast(float, execute_after),
                cast("str | None", dedupe_key),
            )
        ]
    count = len(entrypoint)

    def spread(value: Any, scalar_types: tuple[type, ...]) -> list[Any]:
        if value is None or isinstance(value, scalar_types):
            return [value] * count
        values = list(value)
        if len(values) != count:
            raise UsageError("enqueue lists must all have the same length")
        return values

    payloads = spread(payload, (bytes, str))
    priorities = spread(priority, (int,))
    header_list = spread(headers, (dict,))
    delays = spread(execute_after, (int, float))
    keys = spread(dedupe_key, (str,))
    return [
        NewJob(e, p, pr, h, d, k)
        for e, p, pr, h, d, k in zip(
            entrypoint, payloads, priorities, header_list, delays, keys, strict=True
        )
    ]


def complete_parameters(outcomes: Sequence[Outcome], worker: uuid.UUID) -> dict[str, Any]:
    """Finished and retried outcomes as separate column arrays, one unnest each."""
    done = [o for o in outcomes if o.retry_in is None]
    retry = [o for o in outcomes if o.retry_in is not None]
    return {
        "done_ids": [o.job_id for o in done],
        "done_statuses": [o.status.value for o in done],
        "done_run_seconds": [o.run_seconds for o in done],
        "done_errors": [o.error for o in done],
        "done_tracebacks": [o.traceback for o in done],
        "retry_ids": [o.job_id for o in retry],
        "retry_in": [o.retry_in for o in retry],
        "retry_errors": [o.error for o in retry],
        "retry_tracebacks": [o.traceback for o in retry],
        "worker": worker,
    }


def _purge_filter(
    entrypoints: Sequence[str] | None, statuses: Iterable[str] | None
) -> dict[str, Any]:
    """Parameters shared by the purge and its count, so the count shown is what is deleted."""
    return {
        "entrypoints": list(entrypoints) if entrypoints else None,
        "statuses": purge_statuses(statuses),
    }


def control_message(op: str, entrypoints: Iterable[str]) -> str:
    return json.dumps({"op": op, "entrypoints": sorted(set(entrypoints))})


def purge_statuses(statuses: Iterable[str] | None) -> list[str]:
    chosen = list(statuses) if statuses else [Status.QUEUED.value]
    allowed = {Status.QUEUED.value, Status.PICKED.value}
    for status in chosen:
        if status not in allowed:
            raise UsageError(f"cannot purge status {status!r}: choose from queued, picked")
    return chosen


@dataclasses.dataclass(frozen=True, slots=True)
class CompletionResult:
    finished: int
    retried: int
    failures_recorded: int


@dataclasses.dataclass(frozen=True, slots=True)
class QueueCount:
    entrypoint: str
    status: str
    count: int
    oldest_seconds: float


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
class WorkerIdentity:
    """What a worker tells the registry about itself at every heartbeat."""

    id: uuid.UUID
    host: str
    pid: int
    version: str
    entrypoints: list[str]
    concurrency: int


def _failure_detail(row: tuple[Any, ...]) -> FailureDetail:
    values = list(row)
    if values[4] is not None:
        values[4] = bytes(values[4])
    return FailureDetail(*values)


class _Bound:
    """Statements for one prefix plus the producer-side checks both runners share."""

    def __init__(self, names: ObjectNames | None, max_payload_bytes: int) -> None:
        self.names = names or ObjectNames()
        self.sql = statements(self.names)
        self.max_payload_bytes = max_payload_bytes

    def _enqueue_call(
        self, jobs: Sequence[NewJob], on_duplicate: OnDuplicate
    ) -> tuple[sql.Composed, dict[str, Any]]:
        """The enqueue statement and its column arrays; bad input is refused here, before
        anything reaches the database."""
        jobs = dedupe_within_batch(jobs, on_duplicate)
        columns = enqueue_parameters(jobs, self.max_payload_bytes)
        if len(jobs) == 1:
            single = {name: values[0] for name, values in columns.items()}
            return self.sql.enqueue_one[on_duplicate], single
        return self.sql.enqueue[on_duplicate], columns


_COPY_CHUNK = 5000
_DUPLICATE = "a job with this dedupe key is already queued or running"


class Queries(_Bound):
    """The statements run on one async autocommit connection."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        names: ObjectNames | None = None,
        max_payload_bytes: int = 1024 * 1024,
    ) -> None:
        super().__init__(names, max_payload_bytes)
        self.conn = conn

    async def _rows(
        self, query: sql.Composed | sql.SQL, params: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        cur = await self.conn.execute(query, params)
        rows: list[tuple[Any, ...]] = await cur.fetchall()
        return rows

    async def _one(self, query: sql.Composed | sql.SQL, params: dict[str, Any]) -> tuple[Any, ...]:
        cur = await self.conn.execute(query, params)
        row: tuple[Any, ...] | None = await cur.fetchone()
        assert row is not None
        return row

    # producer side

    async def enqueue(
        self,
        entrypoint: str | Sequence[str],
        payload: PayloadLike | Sequence[PayloadLike] = None,
        priority: int | Sequence[int] = 0,
        *,
        headers: dict[str, Any] | Sequence[dict[str, Any] | None] | None = None,
        execute_after: float | Sequence[float] = 0.0,
        dedupe_key: str | Sequence[str | None] | None = None,
        on_duplicate: OnDuplicate = OnDuplicate.ERROR,
    ) -> list[int]:
        """Enqueue one job or parallel lists of jobs in one statement; returns the new ids."""
        jobs = as_new_jobs(entrypoint, payload, priority, headers, execute_after, dedupe_key)
        return await self.enqueue_jobs(jobs, on_duplicate=on_duplicate)

    async def enqueue_jobs(
        self, jobs: Sequence[NewJob], *, on_duplicate: OnDuplicate = OnDuplicate.ERROR
    ) -> list[int]:
        statement, params = self._enqueue_call(jobs, on_duplicate)
        try:
            rows = await self._rows(statement, params)
        except psycopg.errors.UniqueViolation:
            raise DuplicateJob(_DUPLICATE) from None
        return [r[0] for r in rows]

    async def enqueue_bulk(self, jobs: Iterable[NewJob]) -> int:
        """COPY many jobs in, in binary: the fastest path for large loads (no dedupe policy,
        no ids returned). Each chunk is checked before it is sent; one COPY is one
        statement, so a refused chunk leaves nothing written."""
        count = 0
        async with self.conn.cursor() as cur, cur.copy(self.sql.copy_jobs) as copy:
            copy.set_types(["int4", "text", "bytea", "jsonb", "timestamptz", "text"])
            iterator = iter(jobs)
            while chunk := list(itertools.islice(iterator, _COPY_CHUNK)):
                columns = enqueue_parameters(chunk, self.max_payload_bytes)
                now = dt.datetime.now(dt.UTC)
                for row in zip(
                    columns["priorities"],
                    columns["entrypoints"],
                    columns["payloads"],
                    columns["headers"],
                    [now + dt.timedelta(seconds=d) for d in columns["delays"]],
                    columns["keys"],
                    strict=True,
                ):
                    await copy.write_row(row)
                count += len(chunk)
        return count

    # worker side

    async def dequeue(
        self,
        rooms: dict[str, int],
        batch_size: int,
        worker: uuid.UUID,
        retry_seconds: float,
    ) -> list[Job]:
        """Take up to batch_size jobs, at most rooms[e] of entrypoint e; marks them picked."""
        params = {
            "entrypoints": list(rooms),
            "rooms": list(rooms.values()),
            "batch": batch_size,
            "worker": worker,
            "retry_seconds": retry_seconds,
        }
        # Binary results: timestamps decode faster than from text, per job taken.
        cur = await self.conn.execute(self.sql.dequeue, params, binary=True)
        jobs = [picked_job_from_row(r, worker) for r in await cur.fetchall()]
        jobs.sort(key=lambda j: (-j.priority, j.id))
        return jobs

    async def complete(self, outcomes: Sequence[Outcome], worker: uuid.UUID) -> CompletionResult:
        row = await self._one(self.sql.complete, complete_parameters(outcomes, worker))
        return CompletionResult(row[0], row[1], row[2])

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
        params = {
            "ids": list(job_ids),
            "worker": identity.id,
            "host": identity.host,
            "pid": identity.pid,
            "version": identity.version,
            "entrypoints": identity.entrypoints,
            "concurrency": identity.concurrency,
            "in_flight": in_flight,
            "processed": processed,
            "failed": failed,
            "state": state,
        }
        row = await self._one(self.sql.heartbeat, params)
        return int(row[0])

    async def deregister(self, worker: uuid.UUID) -> None:
        await self.conn.execute(self.sql.deregister, {"worker": worker})

    # control

    async def pause(
        self,
        entrypoints: Sequence[str],
        *,
        seconds: float | None = None,
        by: str = "",
        reason: str = "",
    ) -> int:
        row = await self._one(
            self.sql.pause,
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
        row = await self._one(
            self.sql.resume,
            {
                "entrypoints": list(entrypoints),
                "channel": self.names.channel,
                "message": control_message("resume", entrypoints),
            },
        )
        return int(row[0])

    async def resume_all(self) -> int:
        """Lift every pause; returns how many were still in force."""
        row = await self._one(self.sql.resume_all, {"channel": self.names.channel})
        return int(row[0])

    async def paused(self) -> list[PauseInfo]:
        return [PauseInfo(*r) for r in await self._rows(self.sql.paused, {})]

    async def cancel(self, job_ids: Sequence[int]) -> None:
        """Ask every worker to cancel these running jobs (they record them as canceled)."""
        message = json.dumps({"op": "cancel", "job_ids": [int(i) for i in job_ids]})
        await self.conn.execute(
            self.sql.notify, {"channel": self.names.channel, "message": message}
        )

    # reading

    async def queue_counts(self) -> list[QueueCount]:
        return [QueueCount(*r) for r in await self._rows(self.sql.queue_counts, {})]

    async def recent_outcomes(self, seconds: float = 60.0) -> dict[tuple[str, str], int]:
        rows = await self._rows(self.sql.recent_outcomes, {"seconds": seconds})
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def statistics_series(self, window: float, bucket: float) -> list[SeriesPoint]:
        rows = await self._rows(self.sql.statistics_series, {"window": window, "bucket": bucket})
        return [SeriesPoint(*r) for r in rows]

    async def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(*r) for r in await self._rows(self.sql.workers, {})]

    async def recent_failures(
        self, limit: int = 100, entrypoint: str | None = None
    ) -> list[FailureSummary]:
        rows = await self._rows(
            self.sql.recent_failures, {"limit": limit, "entrypoint": entrypoint}
        )
        return [FailureSummary(*r) for r in rows]

    async def failures_since(self, seconds: float) -> dict[str, int]:
        rows = await self._rows(self.sql.failures_since, {"seconds": seconds})
        return {r[0]: int(r[1]) for r in rows}

    async def failure_detail(self, failure_id: int) -> FailureDetail | None:
        rows = await self._rows(self.sql.failure_detail, {"id": failure_id})
        return _failure_detail(rows[0]) if rows else None

    async def job_detail(self, job_id: int) -> Job | None:
        rows = await self._rows(self.sql.job_detail, {"id": job_id})
        return job_from_row(rows[0]) if rows else None

    async def browse_jobs(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        entrypoint: str | None = None,
        status: str | None = None,
    ) -> list[Job]:
        """One page of jobs in id order, after the last id seen (keyset paging)."""
        rows = await self._rows(
            self.sql.browse_jobs,
            {"after": after, "limit": limit, "entrypoint": entrypoint, "status": status},
        )
        return [job_from_row(r) for r in rows]

    # maintenance

    async def count_matching(
        self, entrypoints: Sequence[str] | None = None, statuses: Iterable[str] | None = None
    ) -> int:
        """How many jobs a purge with the same arguments would delete."""
        row = await self._one(self.sql.count_matching, _purge_filter(entrypoints, statuses))
        return int(row[0])

    async def purge(
        self, entrypoints: Sequence[str] | None = None, statuses: Iterable[str] | None = None
    ) -> int:
        """Delete matching jobs (queued by default), counted as 'deleted' in statistics."""
        row = await self._one(self.sql.purge, _purge_filter(entrypoints, statuses))
        return int(row[0])

    async def requeue_failures(
        self, ids: Sequence[int] | None = None, entrypoint: str | None = None
    ) -> int:
        """Put failed jobs back in the queue as new jobs; each failure is requeued once."""
        row = await self._one(
            self.sql.requeue_failures,
            {"ids": list(ids) if ids is not None else None, "entrypoint": entrypoint},
        )
        return int(row[0])

    async def prune(
        self, failure_seconds: float, failure_rows: int, statistics_seconds: float
    ) -> tuple[int, int, int, int]:
        row = await self._one(
            self.sql.prune,
            {
                "failure_seconds": failure_seconds,
                "failure_rows": failure_rows,
                "statistics_seconds": statistics_seconds,
            },
        )
        return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    async def vacuum_jobs_if_needed(self, min_dead: int = 20_000) -> bool:
        """Vacuum the jobs table when autovacuum is off and dead rows pile up; True if it did.
        SKIP_LOCKED lets one worker do it while the others pass."""
        table = sql.Identifier(self.names.jobs).as_string(self.conn)
        rows = await self._rows(self.sql.jobs_need_vacuum, {"min_dead": min_dead, "table": table})
        if not rows or not rows[0][0]:
            return False
        await self.conn.execute(self.sql.vacuum_jobs)
        return True

    async def server_version(self) -> str:
        row = await self._one(self.sql.server_version, {})
        return str(row[0])

    async def count_requeueable(self, entrypoint: str | None = None) -> int:
        """How many final failures `requeue_failures(entrypoint=...)` would put back."""
        row = await self._one(self.sql.count_requeueable, {"entrypoint": entrypoint})
        return int(row[0])

    async def register_schedules(
        self, schedules: dict[str, str], first_runs: dict[str, dt.datetime]
    ) -> None:
        """Declare entrypoint -> expression; a new or changed one starts at first_runs[e]."""
        names = sorted(schedules)
        await self.conn.execute(
            self.sql.register_schedules,
            {
                "entrypoints": names,
                "expressions": [schedules[n] for n in names],
                "first_runs": [first_runs[n] for n in names],
            },
        )

    async def schedules(self, entrypoints: Sequence[str] | None = None) -> list[ScheduleInfo]:
        params = {"entrypoints": list(entrypoints) if entrypoints is not None else None}
        return [ScheduleInfo(*r) for r in await self._rows(self.sql.schedules, params)]

    async def claim_schedules(
        self, runs: Sequence[tuple[str, dt.datetime, dt.datetime]]
    ) -> list[tuple[str, int | None]]:
        """Enqueue the due runs given as (entrypoint, expected next_run, the run after it);
        returns (entrypoint, job id) for each run this call won, with no id when the run was
        skipped because the previous one is still waiting or running."""
        rows = await self._rows(
            self.sql.claim_schedules,
            {
                "entrypoints": [r[0] for r in runs],
                "expected": [r[1] for r in runs],
                "following": [r[2] for r in runs],
            },
        )
        return [(str(r[0]), None if r[1] is None else int(r[1])) for r in rows]

    async def next_due(self, entrypoints: Sequence[str]) -> float | None:
        """Seconds until the earliest delayed queued job of these entrypoints; None if none."""
        row = await self._one(self.sql.next_due, {"entrypoints": list(entrypoints)})
        return None if row[0] is None else max(float(row[0]), 0.0)


class SyncQueries(_Bound):
    """The producer side for sync code (web request handlers, scripts)."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        names: ObjectNames | None = None,
        max_payload_bytes: int = 1024 * 1024,
    ) -> None:
        super().__init__(names, max_payload_bytes)
        self.conn = conn

    def enqueue(
        self,
        entrypoint: str | Sequence[str],
        payload: PayloadLike | Sequence[PayloadLike] = None,
        priority: int | Sequence[int] = 0,
        *,
        headers: dict[str, Any] | Sequence[dict[str, Any] | None] | None = None,
        execute_after: float | Sequence[float] = 0.0,
        dedupe_key: str | Sequence[str | None] | None = None,
        on_duplicate: OnDuplicate = OnDuplicate.ERROR,
    ) -> list[int]:
        jobs = as_new_jobs(entrypoint, payload, priority, headers, execute_after, dedupe_key)
        statement, params = self._enqueue_call(jobs, on_duplicate)
        try:
            rows = self.conn.execute(statement, params).fetchall()
        except psycopg.errors.UniqueViolation:
            raise DuplicateJob(_DUPLICATE) from None
        return [r[0] for r in rows]
