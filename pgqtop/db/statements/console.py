"""What a console (or an operator's command) runs: the counts, history, failures and workers
it shows, the jobs it browses, and the control it has over the fleet."""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.rows import JOB_COLUMNS
from pgqtop.db.statements import Renderer
from pgqtop.db.statements.audit import audit_cte
from pgqtop.db.statements.triage import FINGERPRINT

JOB_SELECT = ", ".join(JOB_COLUMNS)

QUEUE_COUNTS: LiteralString = (
    "SELECT entrypoint, status::text AS status, count(*) AS count,"
    " extract(epoch FROM now() - min(created))::float8 AS oldest_seconds"
    " FROM {jobs} GROUP BY entrypoint, status ORDER BY entrypoint, status"
)
# What `status` and the console show per entrypoint, in one pass over the waiting and running
# jobs: due (queued, execute_after reached), scheduled (queued for later), picked; the oldest
# due job's wait from when it became due, and when the next scheduled one comes due (with the
# database's clock, to set the counts beside the workers' history samples).
QUEUE_DEPTHS: LiteralString = (
    "SELECT entrypoint,"
    " count(*) FILTER (WHERE status = 'queued' AND execute_after <= now()) AS due,"
    " count(*) FILTER (WHERE status = 'queued' AND execute_after > now()) AS scheduled,"
    " count(*) FILTER (WHERE status = 'picked') AS picked,"
    " extract(epoch FROM now() - min(greatest(created, execute_after))"
    " FILTER (WHERE status = 'queued' AND execute_after <= now()))::float8"
    " AS oldest_due_seconds,"
    " extract(epoch FROM min(execute_after)"
    " FILTER (WHERE status = 'queued' AND execute_after > now()) - now())::float8"
    " AS next_due_seconds, now() AS read_at"
    " FROM {jobs} WHERE status IN ('queued', 'picked')"
    " GROUP BY entrypoint ORDER BY entrypoint"
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
    " extract(epoch FROM now() - heartbeat)::float8 AS heartbeat_age, rss_bytes, hung_threads,"
    " wake FROM {workers} ORDER BY host, pid, started"
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

# Latency over a window: each entrypoint's wait and run histograms added bucket by bucket (one
# unnest of both arrays side by side; the shorter one pads with nulls), and the largest values
# seen (the open last bucket's upper end). Rows without histograms (purges, rows written before
# schema version 3) are left out. A 24-hour window of three busy entrypoints (259,200 rows)
# takes about 2 s on a loaded 2-core machine (one hour: 0.2 s): poll long windows rarely.
LATENCY_HISTOGRAMS: LiteralString = (
    "SELECT entrypoint, array_agg(w ORDER BY i) AS wait_histogram,"
    " array_agg(r ORDER BY i) AS run_histogram, max(wait_max) AS wait_seconds_max,"
    " max(run_max) AS run_seconds_max FROM ("
    " SELECT s.entrypoint, u.i, coalesce(sum(u.w), 0)::bigint AS w,"
    " coalesce(sum(u.r), 0)::bigint AS r, max(s.queue_seconds_max) AS wait_max,"
    " max(s.run_seconds_max) AS run_max"
    " FROM {statistics} s,"
    " unnest(s.wait_histogram, s.run_histogram) WITH ORDINALITY AS u(w, r, i)"
    " WHERE s.created >= now() - make_interval(secs => %(seconds)s::float8)"
    " AND cardinality(s.run_histogram) > 0"
    " GROUP BY 1, 2"
    ") AS buckets GROUP BY entrypoint ORDER BY entrypoint"
)

# A job's story: its row while it waits or runs (with the database's clock, to tell queued from
# scheduled and how long it has run), its end once finished, and its failed attempts.
LIVE_JOB: LiteralString = (
    "SELECT " + JOB_SELECT + ", now() AS read_at FROM {jobs} WHERE id = %(id)s"
)
FINISHED_JOB: LiteralString = (
    "SELECT job_id, entrypoint, priority, status::text AS status, attempts, created,"
    " execute_after, picked, finished,"
    " greatest(extract(epoch FROM picked - greatest(created, execute_after)), 0)::float8"
    " AS wait_seconds, run_seconds, worker_id, host, pid"
    " FROM {finished} WHERE job_id = %(id)s ORDER BY finished DESC LIMIT 1"
)
JOB_FAILURES: LiteralString = (
    "SELECT id, entrypoint, priority, attempts, status::text AS status, final, error,"
    " traceback, job_created, failed_at, worker_id, requeued_at"
    " FROM {failures} WHERE job_id = %(id)s ORDER BY failed_at, id"
)

# The jobs a worker holds (every worker's when none is named), longest running first: those
# it marked picked, and those inside a batch one of its lanes holds by row locks (named in the
# claims table, still queued in the jobs table; see engine/lanes.py), which run for at most
# the claim deadline before they are marked picked or end. A lane's row only counts while its
# worker is registered: a worker that stopped holds nothing.
IN_FLIGHT: LiteralString = (
    "SELECT * FROM ("
    " SELECT worker_id, id, entrypoint, priority, attempts, updated AS started,"
    " greatest(extract(epoch FROM now() - updated), 0)::float8 AS running_seconds,"
    " greatest(extract(epoch FROM now() - heartbeat), 0)::float8 AS heartbeat_age"
    " FROM {jobs} WHERE status = 'picked'"
    " AND (%(worker)s::uuid IS NULL OR worker_id = %(worker)s::uuid)"
    " UNION ALL"
    " SELECT c.worker_id, j.id, j.entrypoint, j.priority, j.attempts + 1, c.claimed_at,"
    " greatest(extract(epoch FROM now() - c.claimed_at), 0)::float8,"
    " greatest(extract(epoch FROM now() - c.claimed_at), 0)::float8"
    " FROM {claims} c JOIN {workers} w ON w.id = c.worker_id"
    " CROSS JOIN LATERAL unnest(c.ids) AS u(id) JOIN {jobs} j ON j.id = u.id"
    " WHERE cardinality(c.ids) > 0 AND j.status = 'queued'"
    " AND (%(worker)s::uuid IS NULL OR c.worker_id = %(worker)s::uuid)"
    ") AS held ORDER BY started, id"
)

# The purge and the count shown before it take the same filter, so the count is what goes.
PURGE_FILTER: LiteralString = (
    " status::text = ANY(%(statuses)s::text[])"
    " AND (%(entrypoints)s::text[] IS NULL OR entrypoint = ANY(%(entrypoints)s::text[]))"
)
COUNT_MATCHING: LiteralString = "SELECT count(*) FROM {jobs} WHERE" + PURGE_FILTER
# Deleted jobs are counted as 'deleted' in statistics, rows sorted by the key like every writer.
COUNT_DELETED: LiteralString = (
    "counted AS ("
    " INSERT INTO {statistics} AS s (created, entrypoint, status, priority, count)"
    " SELECT date_trunc('second', now()), entrypoint, 'deleted'::{status}, priority,"
    " count(*)"
    " FROM gone GROUP BY entrypoint, priority ORDER BY 1, 2, 3, 4"
    " ON CONFLICT (created, entrypoint, status, priority) DO UPDATE"
    " SET count = s.count + EXCLUDED.count RETURNING count"
    ")"
)
PURGE: LiteralString = (
    "WITH gone AS ("
    " DELETE FROM {jobs} WHERE" + PURGE_FILTER + " RETURNING entrypoint, priority"
    "), "
    + COUNT_DELETED
    + ", "
    + audit_cte("purge", "(SELECT count(*) FROM gone)")
    + " SELECT (SELECT count(*) FROM gone), (SELECT id FROM audited)"
)
# One step of a purge shown with progress: the next `limit` matching jobs after id `after`,
# in id order; the caller repeats it inside one transaction and records the entry at the end.
# The filter is checked again on each row deleted: a job taken meanwhile is left alone.
PURGE_CHUNK: LiteralString = (
    "WITH batch AS ("
    " SELECT id FROM {jobs} WHERE id > %(after)s AND"
    + PURGE_FILTER
    + " ORDER BY id LIMIT %(limit)s"
    "), gone AS ("
    " DELETE FROM {jobs} WHERE id = ANY(ARRAY(SELECT id FROM batch)) AND"
    + PURGE_FILTER
    + " RETURNING entrypoint, priority"
    "), " + COUNT_DELETED + " SELECT (SELECT count(*) FROM gone), (SELECT max(id) FROM batch)"
)

# The failures a requeue puts back: final, not requeued before, by ids, entrypoint or group.
REQUEUE_FILTER: LiteralString = (
    " final AND requeued_at IS NULL"
    " AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s::bigint[]))"
    " AND (%(entrypoint)s::text IS NULL OR entrypoint = %(entrypoint)s)"
    " AND (%(fingerprint)s::text IS NULL OR " + FINGERPRINT + " = %(fingerprint)s)"
)
REQUEUE_INSERT: LiteralString = (
    "inserted AS ("
    " INSERT INTO {jobs} (entrypoint, priority, payload, headers)"
    " SELECT entrypoint, priority, payload, headers FROM picked RETURNING 1"
    ")"
)
REQUEUE_FAILURES: LiteralString = (
    "WITH picked AS ("
    " UPDATE {failures} SET requeued_at = now() WHERE"
    + REQUEUE_FILTER
    + " RETURNING entrypoint, priority, payload, headers"
    "), "
    + REQUEUE_INSERT
    + ", "
    + audit_cte("requeue", "(SELECT count(*) FROM inserted)")
    + " SELECT (SELECT count(*) FROM inserted), (SELECT id FROM audited)"
)
REQUEUE_CHUNK: LiteralString = (
    "WITH batch AS ("
    " SELECT id FROM {failures} WHERE id > %(after)s AND"
    + REQUEUE_FILTER
    + " ORDER BY id LIMIT %(limit)s"
    "), picked AS ("
    " UPDATE {failures} SET requeued_at = now()"
    " WHERE id = ANY(ARRAY(SELECT id FROM batch)) AND final AND requeued_at IS NULL"
    " RETURNING entrypoint, priority, payload, headers"
    "), " + REQUEUE_INSERT + " SELECT (SELECT count(*) FROM inserted), (SELECT max(id) FROM batch)"
)
# The console's "requeue all failures of X?" dialog shows this exact count first.
COUNT_REQUEUEABLE: LiteralString = "SELECT count(*) FROM {failures} WHERE" + REQUEUE_FILTER

# What a cancel asks for, counted before anyone confirms it: the given jobs still running.
COUNT_RUNNING: LiteralString = (
    "SELECT count(*) FROM {jobs} WHERE id = ANY(%(ids)s::bigint[]) AND status = 'picked'"
)

# A control change goes to both channels: consoles show it, workers act on it.
NOTIFY_BOTH: LiteralString = (
    "pg_notify(%(channel)s, %(message)s)::text || pg_notify(%(work_channel)s, %(message)s)::text"
)
_RESUMED_ALL: LiteralString = (
    "json_build_object('op', 'resume', 'entrypoints',"
    " coalesce(json_agg(entrypoint ORDER BY entrypoint), '[]'))::text"
)
_CANCELED: LiteralString = (
    "jsonb_build_object('op', 'cancel', 'job_ids', jsonb_agg(id ORDER BY id))::text"
)

PAUSE: LiteralString = (
    "WITH paused AS ("
    " INSERT INTO {control} AS c (entrypoint, paused_at, paused_until, paused_by, reason)"
    " SELECT e, now(), CASE WHEN %(seconds)s::float8 IS NULL THEN NULL"
    " ELSE now() + make_interval(secs => %(seconds)s::float8) END, %(actor)s, %(reason)s"
    " FROM unnest(%(entrypoints)s::text[]) AS e"
    " ON CONFLICT (entrypoint) DO UPDATE SET paused_at = EXCLUDED.paused_at,"
    " paused_until = EXCLUDED.paused_until, paused_by = EXCLUDED.paused_by,"
    " reason = EXCLUDED.reason RETURNING entrypoint"
    "), "
    + audit_cte("pause", "(SELECT count(*) FROM paused)")
    + " SELECT (SELECT count(*) FROM paused), "
    + NOTIFY_BOTH
    + ","
    " (SELECT id FROM audited)"
)
RESUME: LiteralString = (
    "WITH resumed AS ("
    " DELETE FROM {control} WHERE entrypoint = ANY(%(entrypoints)s::text[])"
    " AND (paused_until IS NULL OR paused_until > now()) RETURNING entrypoint"
    "), expired AS ("
    " DELETE FROM {control} WHERE entrypoint = ANY(%(entrypoints)s::text[])"
    " AND paused_until <= now() RETURNING entrypoint"
    "), "
    + audit_cte("resume", "(SELECT count(*) FROM resumed)")
    + " SELECT (SELECT count(*) FROM resumed), "
    + NOTIFY_BOTH
    + ","
    " (SELECT id FROM audited)"
)
# `resume --all`: every pause row goes, the all-entrypoints key and expired rows included;
# the count is of pauses that were still in force.
RESUME_ALL: LiteralString = (
    "WITH gone AS ("
    " DELETE FROM {control} RETURNING entrypoint,"
    " (paused_until IS NULL OR paused_until > now()) AS active"
    "), "
    + audit_cte("resume", "(SELECT count(*) FROM gone WHERE active)")
    + " SELECT count(*) FILTER (WHERE active),"
    " pg_notify(%(channel)s, " + _RESUMED_ALL + ")::text"
    " || pg_notify(%(work_channel)s, " + _RESUMED_ALL + ")::text,"
    " (SELECT id FROM audited) FROM gone"
)
# A cancel is a request written on the running job, by a role allowed to write that column;
# the NOTIFY that follows only wakes the holder to read it (its heartbeat reads it anyway),
# so a NOTIFY from anyone else cancels nothing.
CANCEL: LiteralString = (
    "WITH asked AS ("
    " UPDATE {jobs} SET cancel_requested_at = now() WHERE id = ANY(%(ids)s::bigint[])"
    " AND status = 'picked' AND cancel_requested_at IS NULL RETURNING id"
    ") SELECT count(*), CASE WHEN count(*) > 0 THEN"
    " pg_notify(%(channel)s, " + _CANCELED + ")::text"
    " || pg_notify(%(work_channel)s, " + _CANCELED + ")::text"
    " END FROM asked"
)
SERVER_VERSION: LiteralString = "SELECT current_setting('server_version')"


@dataclasses.dataclass(frozen=True, slots=True)
class ConsoleStatements:
    queue_counts: bytes
    queue_depths: bytes
    recent_outcomes: bytes
    statistics_series: bytes
    workers: bytes
    recent_failures: bytes
    failure_detail: bytes
    failures_since: bytes
    job_detail: bytes
    browse_jobs: bytes
    latency_histograms: bytes
    live_job: bytes
    finished_job: bytes
    job_failures: bytes
    in_flight: bytes
    count_matching: bytes
    purge: bytes
    requeue_failures: bytes
    count_requeueable: bytes
    purge_chunk: bytes
    requeue_chunk: bytes
    count_running: bytes
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
        queue_depths=render(QUEUE_DEPTHS),
        recent_outcomes=render(RECENT_OUTCOMES),
        statistics_series=render(STATISTICS_SERIES),
        workers=render(WORKERS),
        recent_failures=render(RECENT_FAILURES),
        failure_detail=render(FAILURE_DETAIL),
        failures_since=render(FAILURES_SINCE),
        job_detail=render(JOB_DETAIL),
        browse_jobs=render(BROWSE_JOBS),
        latency_histograms=render(LATENCY_HISTOGRAMS),
        live_job=render(LIVE_JOB),
        finished_job=render(FINISHED_JOB),
        job_failures=render(JOB_FAILURES),
        in_flight=render(IN_FLIGHT),
        count_matching=render(COUNT_MATCHING),
        purge=render(PURGE),
        requeue_failures=render(REQUEUE_FAILURES),
        count_requeueable=render(COUNT_REQUEUEABLE),
        purge_chunk=render(PURGE_CHUNK),
        requeue_chunk=render(REQUEUE_CHUNK),
        count_running=render(COUNT_RUNNING),
        pause=render(PAUSE),
        resume=render(RESUME),
        resume_all=render(RESUME_ALL),
        cancel=render(CANCEL),
        server_version=render(SERVER_VERSION),
    )
