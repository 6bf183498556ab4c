"""What a console (or an operator's command) runs: the counts, history, failures and workers
it shows, the jobs it browses, and the control it has over the fleet."""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.rows import JOB_COLUMNS
from pgqtop.db.statements import Renderer

JOB_SELECT = ", ".join(JOB_COLUMNS)

QUEUE_COUNTS: LiteralString = (
    "SELECT entrypoint, status::text AS status, count(*) AS count,"
    " extract(epoch FROM now() - min(created))::float8 AS oldest_seconds"
    " FROM {jobs} GROUP BY entrypoint, status ORDER BY entrypoint, status"
)
RECENT_OUTCOMES: LiteralString = (
    "SELECT entrypoint, status::text, sum(count)::bigint FROM {statistics}"
    " WHERE created >= now() - make_interval(secs => %(seconds)s::float8)"
    " GROUP BY entrypoint, status"
)
STATISTICS_SERIES: LiteralString = (
    "SELECT date_bin(make_interval(secs => %(bucket)s::float8), created,"
    " timestamptz '2000-01-01') AS bucket, entrypoint, status::text AS status,"
    " sum(count)::bigint AS count, sum(queue_seconds_sum) AS queue_seconds_sum,"
    " max(queue_seconds_max) AS queue_seconds_max, sum(run_seconds_sum) AS run_seconds_sum,"
    " max(run_seconds_max) AS run_seconds_max"
    " FROM {statistics}"
    " WHERE created >= now() - make_interval(secs => %(window)s::float8)"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
)
WORKERS: LiteralString = (
    "SELECT id, host, pid, version, entrypoints, concurrency, started, heartbeat,"
    " in_flight, processed, failed, state,"
    " extract(epoch FROM now() - heartbeat)::float8 AS heartbeat_age, rss_bytes, hung_threads"
    " FROM {workers} ORDER BY host, pid, started"
)
RECENT_FAILURES: LiteralString = (
    "SELECT id, job_id, entrypoint, priority, attempts, status::text AS status, final, error,"
    " failed_at, requeued_at FROM {failures}"
    " WHERE (%(entrypoint)s::text IS NULL OR entrypoint = %(entrypoint)s)"
    " ORDER BY id DESC LIMIT %(limit)s"
)
FAILURE_DETAIL: LiteralString = (
    "SELECT id, job_id, entrypoint, priority, payload, headers, attempts,"
    " status::text AS status, final, error, traceback, job_created, failed_at, worker_id,"
    " requeued_at FROM {failures} WHERE id = %(id)s"
)
FAILURES_SINCE: LiteralString = (
    "SELECT entrypoint, count(*) FROM {failures}"
    " WHERE final AND failed_at >= now() - make_interval(secs => %(seconds)s::float8)"
    " GROUP BY entrypoint"
)
JOB_DETAIL: LiteralString = "SELECT " + JOB_SELECT + " FROM {jobs} WHERE id = %(id)s"
BROWSE_JOBS: LiteralString = (
    "SELECT " + JOB_SELECT + " FROM {jobs}"
    " WHERE id > %(after)s"
    " AND (%(entrypoint)s::text IS NULL OR entrypoint = %(entrypoint)s)"
    " AND (%(status)s::text IS NULL OR status::text = %(status)s)"
    " ORDER BY id LIMIT %(limit)s"
)

# The purge and the count shown before it take the same filter, so the count is what goes.
COUNT_MATCHING: LiteralString = (
    "SELECT count(*) FROM {jobs} WHERE status::text = ANY(%(statuses)s::text[])"
    " AND (%(entrypoints)s::text[] IS NULL OR entrypoint = ANY(%(entrypoints)s::text[]))"
)
PURGE: LiteralString = (
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

REQUEUE_FAILURES: LiteralString = (
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
# The console's "requeue all failures of X?" dialog shows this exact count first.
COUNT_REQUEUEABLE: LiteralString = (
    "SELECT count(*) FROM {failures} WHERE final AND requeued_at IS NULL"
    " AND (%(entrypoint)s::text IS NULL OR entrypoint = %(entrypoint)s)"
)

PAUSE: LiteralString = (
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
RESUME: LiteralString = (
    "WITH resumed AS ("
    " DELETE FROM {control} WHERE entrypoint = ANY(%(entrypoints)s::text[])"
    " AND (paused_until IS NULL OR paused_until > now()) RETURNING entrypoint"
    "), expired AS ("
    " DELETE FROM {control} WHERE entrypoint = ANY(%(entrypoints)s::text[])"
    " AND paused_until <= now() RETURNING entrypoint"
    ") SELECT (SELECT count(*) FROM resumed), pg_notify(%(channel)s, %(message)s)::text"
)
# `resume --all`: every pause row goes, the all-entrypoints key and expired rows included;
# the count is of pauses that were still in force.
RESUME_ALL: LiteralString = (
    "WITH gone AS ("
    " DELETE FROM {control} RETURNING entrypoint,"
    " (paused_until IS NULL OR paused_until > now()) AS active"
    ") SELECT count(*) FILTER (WHERE active),"
    " pg_notify(%(channel)s, json_build_object('op', 'resume', 'entrypoints',"
    " coalesce(json_agg(entrypoint ORDER BY entrypoint), '[]'))::text)::text FROM gone"
)
# A cancel is a request written on the running job, by a role allowed to write that column;
# the NOTIFY that follows only wakes the holder to read it (its heartbeat reads it anyway),
# so a NOTIFY from anyone else cancels nothing.
CANCEL: LiteralString = (
    "WITH asked AS ("
    " UPDATE {jobs} SET cancel_requested_at = now() WHERE id = ANY(%(ids)s::bigint[])"
    " AND status = 'picked' AND cancel_requested_at IS NULL RETURNING id"
    ") SELECT count(*), CASE WHEN count(*) > 0 THEN pg_notify(%(channel)s,"
    " jsonb_build_object('op', 'cancel', 'job_ids', jsonb_agg(id ORDER BY id))::text)::text"
    " END FROM asked"
)
SERVER_VERSION: LiteralString = "SELECT current_setting('server_version')"


@dataclasses.dataclass(frozen=True, slots=True)
class ConsoleStatements:
    queue_counts: bytes
    recent_outcomes: bytes
    statistics_series: bytes
    workers: bytes
    recent_failures: bytes
    failure_detail: bytes
    failures_since: bytes
    job_detail: bytes
    browse_jobs: bytes
    count_matching: bytes
    purge: bytes
    requeue_failures: bytes
    count_requeueable: bytes
    pause: bytes
    resume: bytes
    resume_all: bytes
    cancel: bytes
    server_version: bytes


@functools.lru_cache(maxsize=64)
def console_statements(names: ObjectNames) -> ConsoleStatements:
    render = Renderer(names)
    return ConsoleStatements(
        queue_counts=render(QUEUE_COUNTS),
        recent_outcomes=render(RECENT_OUTCOMES),
        statistics_series=render(STATISTICS_SERIES),
        workers=render(WORKERS),
        recent_failures=render(RECENT_FAILURES),
        failure_detail=render(FAILURE_DETAIL),
        failures_since=render(FAILURES_SINCE),
        job_detail=render(JOB_DETAIL),
        browse_jobs=render(BROWSE_JOBS),
        count_matching=render(COUNT_MATCHING),
        purge=render(PURGE),
        requeue_failures=render(REQUEUE_FAILURES),
        count_requeueable=render(COUNT_REQUEUEABLE),
        pause=render(PAUSE),
        resume=render(RESUME),
        resume_all=render(RESUME_ALL),
        cancel=render(CANCEL),
        server_version=render(SERVER_VERSION),
    )
