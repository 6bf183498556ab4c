"""What a worker runs: take a batch (marking it picked, or holding it by row locks: the lock
claim of engine/lanes.py), finish a batch, beat, leave; its maintenance (pruning,
vacuum where autovacuum is off); and the claiming of scheduled runs."""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.rows import PICKED_COLUMNS
from pgqtop.db.statements import Positional, Renderer, positional

# What the dequeue's UPDATE does not already tell: status ('picked'), heartbeat (= updated,
# the same now()) and worker_id (the caller) are filled in by picked_job_from_row, which
# saves decoding three values and building a UUID per job taken.
PICKED_SELECT = ", ".join("j." + column for column in PICKED_COLUMNS)

# Take a batch. Per entrypoint (only those with room, minus paused ones) the best queued rows
# and the stalled picked rows are locked with SKIP LOCKED; a window function keeps each
# entrypoint within its room, the batch limit keeps priority-then-FIFO order. A stalled row
# is not one the worker still holds (`held`: running, or its outcome not yet written; its own
# rows outside that list are takes whose reply it never got) and has been taken fewer times
# than its entrypoint's cap (`caps`, NULL for none): a job at the cap is given up by
# GIVE_UP_LOST instead of running again.
READY: LiteralString = (
    "WITH ready AS ("
    " SELECT r.name, r.room, r.cap FROM unnest(%(entrypoints)s::text[], %(rooms)s::int[],"
    " %(caps)s::int[]) AS r(name, room, cap) WHERE r.room > 0 AND NOT EXISTS ("
    "  SELECT 1 FROM {control} c WHERE c.entrypoint IN (r.name, '*')"
    "  AND (c.paused_until IS NULL OR c.paused_until > now()))"
    ")"
)
"""The entrypoints a take serves: those with room and no pause in force."""

DEQUEUE: LiteralString = (
    READY + ", queued AS ("
    " SELECT q.id, q.priority, r.name, r.room, 1 AS fresh FROM ready r"
    " CROSS JOIN LATERAL (SELECT id, priority FROM {jobs}"
    "  WHERE entrypoint = r.name AND status = 'queued' AND execute_after <= now()"
    # Without fresh jobs (the lock claim's stalled scan) a one-time filter skips this walk.
    "  AND %(fresh)s::boolean"
    "  ORDER BY priority DESC, id LIMIT least(r.room, %(batch)s)"
    "  FOR UPDATE SKIP LOCKED) q"
    "), stalled AS ("
    " SELECT s.id, s.priority, r.name, r.room, 0 AS fresh FROM ready r"
    " CROSS JOIN LATERAL (SELECT id, priority FROM {jobs}"
    "  WHERE %(retry_seconds)s::float8 > 0 AND status = 'picked'"
    "  AND heartbeat < now() - make_interval(secs => %(retry_seconds)s::float8)"
    "  AND entrypoint = r.name AND (worker_id <> %(worker)s"
    "  OR NOT id = ANY(coalesce(%(held)s::bigint[], '{{}}')))"
    "  AND (r.cap IS NULL OR attempts < r.cap)"
    "  ORDER BY heartbeat LIMIT least(r.room, %(batch)s)"
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
    " WHERE j.id = ANY(ARRAY(SELECT id FROM chosen)) RETURNING " + PICKED_SELECT
)


def histogram_of(seconds: LiteralString) -> LiteralString:
    """Per group of `finished`, how many of its jobs' `seconds` fell in each latency bucket
    (model.latency), as a dense integer[] up to the last bucket used. The aggregates belong to
    the outer grouping, so the one pass over the batch feeds them; width_bucket is a binary
    search over the constant bounds. Counting the buckets before joining them to the series
    keeps the join to a few dozen rows (a fifth cheaper than joining every job)."""
    bucket: LiteralString = "width_bucket(" + seconds + ", {latency_bounds})"
    return (
        "ARRAY(SELECT coalesce(c.n, 0)::int FROM generate_series(0, max(" + bucket + ")) i"
        " LEFT JOIN (SELECT u.b, count(*) AS n FROM unnest(array_agg(" + bucket + ")) u(b)"
        " GROUP BY u.b) c ON c.b = i ORDER BY i)"
    )


def histogram_sum(column: LiteralString) -> LiteralString:
    """The upsert's bucket-by-bucket sum of a stored and a new histogram of `column`."""
    return (
        "ARRAY(SELECT coalesce(u.a, 0) + coalesce(u.b, 0) FROM unnest(s." + column + ","
        " EXCLUDED." + column + ") WITH ORDINALITY AS u(a, b, i) ORDER BY u.i)"
    )


# The completion's latency part: the statistics row's two histograms, computed from the batch
# in the same grouping as the counts and added to the stored ones on conflict.
LATENCY_SELECT: LiteralString = (
    ", " + histogram_of("queue_seconds") + ", " + histogram_of("run_seconds")
)
LATENCY_UPSERT: LiteralString = (
    ", wait_histogram = "
    + histogram_sum("wait_histogram")
    + ", run_histogram = "
    + histogram_sum("run_histogram")
)


# Finish a batch in one statement: delete what ended, put retries back, record failures, and
# upsert per-second statistics with rows sorted by the unique key so that concurrent flushes
# lock statistics rows in the same order and cannot deadlock.
#
# Two forms. A picked batch's rows carry the worker's id, the take's time in `updated` and the
# attempt in `attempts`. A lock-held batch (lanes.py) wrote nothing when it was taken: its rows
# are still queued, held by this transaction's locks; the take's time is the transaction's
# now(), and the attempt comes with each outcome (what the take counted, lost attempts
# included). That form also marks picked the jobs still running at the deadline, removes the
# ids it counted as lost from the rows that listed them, and empties its lane's row, all in
# the transaction that commits the batch.
_HELD_BY_US: dict[bool, LiteralString] = {
    False: " AND j.worker_id = %(worker)s",
    True: " AND j.status = 'queued'",
}
_TAKEN_AT: dict[bool, LiteralString] = {False: "j.updated", True: "now()"}
# A lock-held job's attempt is the take's (the stored attempts plus one) unless the take
# counted lost ones, which then come as a list beside the ids.
_ATTEMPTS: dict[bool, LiteralString] = {
    False: "d.attempts",
    True: "coalesce(o.attempts, d.attempts + 1)",
}


def complete_statement(held: bool) -> LiteralString:
    """The completion of a picked batch (held False) or of a lock-held one (held True).

    Ids, numbers and times come as array literals in text (worker.py's int_array): the server
    parses those faster than the driver builds binary arrays. Statuses, errors and tracebacks
    come as lists only when some job did not simply succeed; NULL means "successful, no
    error" for the whole batch."""
    done_attempts: LiteralString = ", %(done_attempts)s::int[]" if held else ""
    retry_attempts: LiteralString = ", %(retry_attempts)s::int[]" if held else ""
    attempt_column: LiteralString = ", attempts" if held else ""
    retry_sets: LiteralString = ", attempts = coalesce(o.attempts, j.attempts + 1)" if held else ""
    text: LiteralString = (
        "WITH deleted AS ("
        # Only the holder of a job may finish it: a job re-taken by another worker after the
        # retry timer carries the new worker's id and is left alone.
        " DELETE FROM {jobs} j WHERE j.id = ANY(%(done_ids)s::bigint[])"
        + _HELD_BY_US[held]
        + " RETURNING j.id, j.entrypoint, j.priority, j.payload, j.headers, j.attempts,"
        " j.created, greatest(extract(epoch FROM " + _TAKEN_AT[held] + " - greatest(j.created,"
        " j.execute_after)), 0)::float8 AS queue_seconds"
        # When the job was due and taken, for the finished jobs kept below.
        ", j.execute_after, " + _TAKEN_AT[held] + " AS picked"
        "), finished AS ("
        " SELECT d.id, d.entrypoint, d.priority, d.payload, d.headers, "
        + _ATTEMPTS[held]
        + " AS attempts, d.created, d.queue_seconds, d.execute_after, d.picked,"
        " coalesce(o.status, 'successful')::{status} AS status, o.run_seconds,"
        " coalesce(o.error, '') AS error, coalesce(o.traceback, '') AS traceback"
        " FROM deleted d JOIN unnest(%(done_ids)s::bigint[], %(done_statuses)b::text[],"
        " %(done_run_seconds)s::float8[], %(done_errors)b::text[],"
        " %(done_tracebacks)b::text[]" + done_attempts + ")"
        " AS o(id, status, run_seconds, error, traceback" + attempt_column + ")"
        " ON o.id = d.id"
        "), retried AS ("
        " UPDATE {jobs} j SET status = 'queued', updated = now(), worker_id = NULL,"
        " execute_after = now() + make_interval(secs => o.retry_in)" + retry_sets + ""
        " FROM unnest(%(retry_ids)s::bigint[], %(retry_in)s::float8[],"
        " %(retry_errors)b::text[], %(retry_tracebacks)b::text[]" + retry_attempts + ")"
        " AS o(id, retry_in, error, traceback" + attempt_column + ")"
        " WHERE j.id = ANY(%(retry_ids)s::bigint[]) AND j.id = o.id"
        + _HELD_BY_US[held]
        # Without retries this is a one-time filter that skips the UPDATE's scan; otherwise
        # the planner may walk every picked row looking for an empty id list.
        + " AND cardinality(%(retry_ids)s::bigint[]) > 0"
        # RETURNING sees the row as updated: the attempt this retry counted.
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
        " queue_seconds_sum, queue_seconds_max, run_seconds_sum, run_seconds_max,"
        " wait_histogram, run_histogram)"
        " SELECT date_trunc('second', now()), entrypoint, status, priority, count(*),"
        " sum(queue_seconds), max(queue_seconds), sum(run_seconds), max(run_seconds)"
        + LATENCY_SELECT
        + " FROM finished GROUP BY entrypoint, status, priority"
        " ORDER BY 1, 2, 3, 4"
        " ON CONFLICT (created, entrypoint, status, priority) DO UPDATE SET"
        " count = s.count + EXCLUDED.count,"
        " queue_seconds_sum = s.queue_seconds_sum + EXCLUDED.queue_seconds_sum,"
        " queue_seconds_max = greatest(s.queue_seconds_max, EXCLUDED.queue_seconds_max),"
        " run_seconds_sum = s.run_seconds_sum + EXCLUDED.run_seconds_sum,"
        " run_seconds_max = greatest(s.run_seconds_max, EXCLUDED.run_seconds_max)"
        + LATENCY_UPSERT
        + " RETURNING 1"
        # Each finished job's end, kept a while for `pgqtop job` (off: keep_finished false).
        # The host and pid come from the registry row, which goes when the worker stops.
        "), kept AS ("
        " INSERT INTO {finished} (job_id, entrypoint, priority, status, attempts, created,"
        " execute_after, picked, run_seconds, worker_id, host, pid)"
        " SELECT f.id, f.entrypoint, f.priority, f.status, f.attempts, f.created,"
        " f.execute_after, f.picked, f.run_seconds, %(worker)s, w.host, w.pid"
        " FROM finished f LEFT JOIN {workers} w ON w.id = %(worker)s"
        " WHERE %(keep_finished)s::boolean"
        " RETURNING 1"
        + (HELD_ENDING if held else "")
        + ") SELECT (SELECT count(*) FROM finished), (SELECT count(*) FROM retried),"
        " (SELECT count(*) FROM failed), (SELECT count(*) FROM counted)"
    )
    return text


# What only a lock-held batch's completion does (see complete_statement).
HELD_ENDING: LiteralString = (
    # The jobs still running at the deadline go on as picked jobs of this worker: their
    # outcomes are written by the completion buffer, and the heartbeat keeps them alive.
    "), converted AS ("
    " UPDATE {jobs} j SET status = 'picked', updated = now(), heartbeat = clock_timestamp(),"
    " worker_id = %(worker)s, attempts = coalesce(o.attempts, j.attempts + 1)"
    " FROM unnest(%(running_ids)s::bigint[], %(running_attempts)s::int[]) AS o(id, attempts)"
    " WHERE j.id = ANY(%(running_ids)s::bigint[]) AND j.id = o.id AND j.status = 'queued'"
    " AND cardinality(%(running_ids)s::bigint[]) > 0"
    " RETURNING 1"
    # The lost attempts this batch counted are in the jobs' attempts now (or the jobs are
    # gone): the rows of the lanes that lost them stop naming them. Rare: after a crash.
    "), absorbed AS ("
    " UPDATE {claims} c SET ids = ARRAY(SELECT x FROM unnest(c.ids) AS x"
    " WHERE x <> ALL(%(absorbed)s::bigint[]))"
    " WHERE cardinality(%(absorbed)s::bigint[]) > 0 AND c.ids && %(absorbed)s::bigint[]"
    " AND NOT (c.worker_id = %(worker)s AND c.lane = %(lane)s)"
    " RETURNING 1"
    "), cleared AS ("
    " UPDATE {claims} SET ids = '{{}}', lo = NULL, hi = NULL"
    " WHERE worker_id = %(worker)s AND lane = %(lane)s"
    " RETURNING 1"
)

# Take a batch and write nothing: per entrypoint with room (minus paused ones) the best due
# rows are locked with SKIP LOCKED in the caller's open transaction, and the batch limit keeps
# priority-then-FIFO order across entrypoints. Each job comes back as the handler sees it:
# taken now (the transaction's start), attempt = earlier attempts + the attempts lost with
# lanes that died holding it (the rows of claims still naming it) + this one; `lost` says how
# many of those were lost, so the worker can give up a job that keeps killing its holders.
CLAIM_HELD: LiteralString = (
    READY + ", queued AS ("
    " SELECT q.* FROM ready r"
    " CROSS JOIN LATERAL (SELECT id, priority, created, execute_after, entrypoint, payload,"
    "  headers, attempts, dedupe_key FROM {jobs}"
    "  WHERE entrypoint = r.name AND status = 'queued' AND execute_after <= now()"
    "  ORDER BY priority DESC, id LIMIT least(r.room, %(batch)s)"
    "  FOR UPDATE SKIP LOCKED) q"
    "), chosen AS ("
    " SELECT * FROM queued ORDER BY priority DESC, id LIMIT %(batch)s"
    "), lost AS ("
    # Only rows whose id range meets the batch's are opened: those of live lanes hold other
    # jobs, almost always in other ranges.
    " SELECT u.id, count(*)::int AS n FROM {claims} c"
    " CROSS JOIN (SELECT min(id) AS lo, max(id) AS hi FROM chosen) b"
    " CROSS JOIN LATERAL unnest(c.ids) AS u(id)"
    " WHERE c.lo <= b.hi AND c.hi >= b.lo AND u.id IN (SELECT id FROM chosen)"
    " GROUP BY u.id"
    ") SELECT c.id, c.priority, c.created, now(), c.execute_after, c.entrypoint, c.payload,"
    " c.headers, c.attempts + 1 + coalesce(l.n, 0), c.dedupe_key, coalesce(l.n, 0)"
    " FROM chosen c LEFT JOIN lost l ON l.id = c.id"
)

# Name the jobs a lane now holds, committed at once and apart from the lane's transaction, so
# that they stay named if the worker dies holding them. Committed without waiting for the WAL
# flush: the row only matters while this server runs (a crash of the server releases every
# lock and loses no job), and the wait would be paid on every batch.
RECORD_CLAIM: LiteralString = (
    "INSERT INTO {claims} AS c (worker_id, lane, ids, lo, hi)"
    " SELECT %(worker)s, %(lane)s, %(ids)s::bigint[], %(lo)s::bigint, %(hi)s::bigint"
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS quick"
    " ON CONFLICT (worker_id, lane) DO UPDATE SET ids = EXCLUDED.ids, lo = EXCLUDED.lo,"
    " hi = EXCLUDED.hi, claimed_at = now()"
)

COMPLETE: LiteralString = complete_statement(held=False)
COMPLETE_HELD: LiteralString = complete_statement(held=True)

# Keep the running jobs and the registry row alive, and read the cancel requests of the jobs
# this worker holds from the rows the beat touches anyway: a cancel lands within a heartbeat
# even when its NOTIFY is lost, and a NOTIFY only makes the beat come sooner.
HEARTBEAT: LiteralString = (
    "WITH beat AS ("
    " UPDATE {jobs} SET heartbeat = now() WHERE id = ANY(%(ids)s::bigint[])"
    " AND status = 'picked' AND worker_id = %(worker)s"
    " RETURNING id, cancel_requested_at IS NOT NULL AS cancel"
    "), registered AS ("
    " INSERT INTO {workers} AS w (id, host, pid, version, entrypoints, concurrency,"
    " in_flight, processed, failed, state, rss_bytes, hung_threads, wake) VALUES (%(worker)s,"
    " %(host)s, %(pid)s, %(version)s, %(entrypoints)s, %(concurrency)s, %(in_flight)s,"
    " %(processed)s, %(failed)s, %(state)s, %(rss_bytes)s, %(hung_threads)s, %(wake)s)"
    " ON CONFLICT (id) DO UPDATE SET heartbeat = now(), in_flight = EXCLUDED.in_flight,"
    " processed = EXCLUDED.processed, failed = EXCLUDED.failed,"
    " concurrency = EXCLUDED.concurrency, entrypoints = EXCLUDED.entrypoints,"
    " state = EXCLUDED.state, rss_bytes = EXCLUDED.rss_bytes,"
    " hung_threads = EXCLUDED.hung_threads, wake = EXCLUDED.wake"
    " RETURNING 1"
    ") SELECT (SELECT count(*) FROM beat),"
    " ARRAY(SELECT id FROM beat WHERE cancel ORDER BY id),"
    # The workers ahead of this one for a LISTEN seat (engine/seats.py): alive, running, willing
    # to listen, lower id, and serving every entrypoint this one serves, so that any of them
    # listening covers its jobs. The snapshot predates this statement's own upsert.
    " (SELECT count(*) FROM {workers} o WHERE o.id < %(worker)s AND o.wake <> 'poll'"
    " AND o.state = 'running' AND o.entrypoints @> %(entrypoints)s::text[]"
    " AND o.heartbeat > now() - make_interval(secs => %(alive)s::float8))"
)

# A job whose holder stopped beating once too often (killed, crashed, or blocked past the retry
# timer each time it was taken) is given up instead of taken again: deleted, recorded as a
# final failure naming the worker it was last seen on, and counted in statistics. `losses` is
# how many takes ended that way: the takes not explained by a recorded failed attempt. A job
# the worker itself still holds is never given up (see DEQUEUE's `held`).
GIVE_UP_LOST: LiteralString = (
    "WITH lost AS ("
    " SELECT j.id FROM {jobs} j"
    " JOIN unnest(%(entrypoints)s::text[], %(caps)s::int[]) AS c(name, cap)"
    " ON j.entrypoint = c.name"
    " WHERE j.status = 'picked' AND j.attempts >= c.cap AND (j.worker_id <> %(worker)s"
    " OR NOT j.id = ANY(%(held)s::bigint[]))"
    " AND j.heartbeat < now() - make_interval(secs => %(retry_seconds)s::float8)"
    " ORDER BY j.heartbeat LIMIT %(limit)s FOR UPDATE OF j SKIP LOCKED"
    "), gone AS ("
    " DELETE FROM {jobs} j USING lost l WHERE j.id = l.id"
    " RETURNING j.id, j.entrypoint, j.priority, j.payload, j.headers, j.attempts,"
    " j.created, j.worker_id, greatest(extract(epoch FROM j.updated - greatest(j.created,"
    " j.execute_after)), 0)::float8 AS queue_seconds"
    "), counted_losses AS ("
    " SELECT g.*, greatest(g.attempts - (SELECT count(*) FROM {failures} f"
    " WHERE f.job_id = g.id AND NOT f.final), 1) AS losses FROM gone g"
    "), described AS ("
    " SELECT g.*, 'worker lost ' || CASE g.losses WHEN 1 THEN 'once'"
    " ELSE g.losses || ' times' END || ': last seen on '"
    " || coalesce(w.host || ', pid ' || w.pid, 'a worker no longer registered') AS error"
    " FROM counted_losses g LEFT JOIN {workers} w ON w.id = g.worker_id"
    "), failed AS ("
    " INSERT INTO {failures} (job_id, entrypoint, priority, payload, headers, attempts,"
    " status, final, error, traceback, job_created, worker_id)"
    " SELECT id, entrypoint, priority, payload, headers, attempts, 'exception', true, error,"
    " 'Each time this job was taken, the worker holding it stopped beating (it was killed,"
    " crashed, or its event loop was blocked) for longer than the retry timer; no outcome"
    " was recorded. It was given up after ' || attempts || ' takes.',"
    " created, worker_id FROM described RETURNING 1"
    "), counted AS ("
    " INSERT INTO {statistics} AS s (created, entrypoint, status, priority, count,"
    " queue_seconds_sum, queue_seconds_max)"
    " SELECT date_trunc('second', now()), entrypoint, 'exception'::{status}, priority,"
    " count(*), sum(queue_seconds), max(queue_seconds)"
    " FROM gone GROUP BY entrypoint, priority ORDER BY 1, 2, 3, 4"
    " ON CONFLICT (created, entrypoint, status, priority) DO UPDATE SET"
    " count = s.count + EXCLUDED.count,"
    " queue_seconds_sum = s.queue_seconds_sum + EXCLUDED.queue_seconds_sum,"
    " queue_seconds_max = greatest(s.queue_seconds_max, EXCLUDED.queue_seconds_max)"
    " RETURNING 1"
    ") SELECT id, entrypoint, error FROM described ORDER BY id"
)

DEREGISTER: LiteralString = (
    "WITH lanes AS (DELETE FROM {claims} WHERE worker_id = %(worker)s RETURNING 1)"
    " DELETE FROM {workers} WHERE id = %(worker)s"
)

# An idle worker sleeps until the earliest delayed job (or retry) of its entrypoints is due:
# no NOTIFY announces that moment.
NEXT_DUE: LiteralString = (
    "SELECT extract(epoch FROM min(execute_after) - now())::float8 FROM {jobs}"
    " WHERE status = 'queued' AND entrypoint = ANY(%(entrypoints)s::text[])"
    " AND execute_after > now()"
)

PRUNE: LiteralString = (
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
    # A dead lane's row names the attempts its worker lost; after a day they have long been
    # counted by whoever took those jobs again.
    "), gone_lanes AS ("
    " DELETE FROM {claims} WHERE claimed_at < now() - interval '1 day' RETURNING 1"
    ") SELECT (SELECT count(*) FROM old_failures), (SELECT count(*) FROM old_statistics),"
    " (SELECT count(*) FROM expired), (SELECT count(*) FROM gone_workers)"
)

# Finished jobs are kept for a while and at most so many: the oldest go by age, and every job
# more than `rows` ids older than the last id issued goes too (each id finishes once, so at most
# `rows` stay). The last id comes once per statement (a sub-select) from the jobs table's
# identity sequence, which a worker may use. At most `chunk` rows go per statement, found
# through the table's block range index and deleted by their physical address.
PRUNE_FINISHED: LiteralString = (
    "WITH gone AS ("
    " DELETE FROM {finished} WHERE ctid = ANY(ARRAY("
    " SELECT ctid FROM {finished} WHERE finished < now() - make_interval("
    " secs => %(seconds)s::float8) OR job_id <= (SELECT pg_sequence_last_value("
    " pg_get_serial_sequence(%(jobs_table)s, 'id')::regclass) - %(rows)s)"
    " LIMIT %(chunk)s)) RETURNING 1"
    ") SELECT count(*) FROM gone"
)

# A queue table deletes all day: where the server's autovacuum is off, workers must vacuum it
# themselves or every dequeue wades through dead index entries.
JOBS_NEED_VACUUM: LiteralString = (
    "SELECT current_setting('autovacuum') = 'off'"
    " AND s.n_dead_tup > greatest(%(min_dead)s, s.n_live_tup * 0.1)"
    " FROM pg_stat_user_tables s WHERE s.relid = to_regclass(%(table)s)"
)
VACUUM_JOBS: LiteralString = "VACUUM (SKIP_LOCKED, ANALYZE) {jobs}"

# A worker declares its own schedules; a changed expression restarts the timetable.
REGISTER_SCHEDULES: LiteralString = (
    "INSERT INTO {schedules} AS s (entrypoint, expression, next_run)"
    " SELECT * FROM unnest(%(entrypoints)s::text[], %(expressions)s::text[],"
    " %(first_runs)s::timestamptz[])"
    " ON CONFLICT (entrypoint) DO UPDATE SET expression = EXCLUDED.expression,"
    " next_run = EXCLUDED.next_run, updated = now()"
    " WHERE s.expression IS DISTINCT FROM EXCLUDED.expression"
)

# Take the due runs: a run is the (entrypoint, next_run) this worker last read. Whoever locks
# the row first moves next_run on and enqueues the job in the same statement; a worker that
# raced it skips the locked row or no longer matches the old next_run.
CLAIM_SCHEDULES: LiteralString = (
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
    # One run waiting or running at a time: a run that comes due while the last one is still
    # queued (paused, busy) or running is skipped, never piled up.
    " INSERT INTO {jobs} (entrypoint, headers, dedupe_key)"
    " SELECT entrypoint, jsonb_build_object('schedule', expression,"
    " 'scheduled_for', scheduled_for), 'schedule:' || entrypoint FROM moved"
    " ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL"
    " AND status IN ('queued', 'picked') DO NOTHING RETURNING id, entrypoint"
    ") SELECT m.entrypoint, q.id FROM moved m LEFT JOIN queued q USING (entrypoint)"
    " ORDER BY m.entrypoint"
)


# --- queue history ------------------------------------------------------------------------------

# The fleet's queue-history sample, without a leader: every worker tries each slot of the
# interval grid, and the one whose statement locks the latest sample (the others skip it)
# and inserts the slot counts the queue and writes the sample in this same statement. A slot is
# taken once: a late try finds it taken and does nothing. The next slot waits until the last
# sample is `interval` old, or `cost_factor` times as old as that sample took to count, so a
# huge backlog is sampled less often rather than at a higher cost. Whoever samples also prunes
# by age. The counting reads the jobs table only when the slot was claimed (a one-time filter).
SAMPLE_HISTORY: LiteralString = (
    "WITH clock AS ("
    " SELECT date_bin(make_interval(secs => %(interval)s::float8), now(),"
    " timestamptz '2000-01-01') AS slot"
    "), latest AS ("
    " SELECT s.slot, s.took_seconds FROM {history_samples} s"
    " WHERE s.slot = (SELECT max(slot) FROM {history_samples}) FOR UPDATE SKIP LOCKED"
    "), claimed AS ("
    " INSERT INTO {history_samples} (slot, worker_id, paused_all)"
    " SELECT c.slot, %(worker)s, EXISTS (SELECT 1 FROM {control} WHERE entrypoint = '*'"
    " AND (paused_until IS NULL OR paused_until > now())) FROM clock c"
    " WHERE NOT EXISTS (SELECT 1 FROM {history_samples})"
    " OR EXISTS (SELECT 1 FROM latest l WHERE l.slot <= c.slot - make_interval(secs =>"
    " greatest(%(interval)s::float8, l.took_seconds * %(cost_factor)s::float8)))"
    " ON CONFLICT (slot) DO NOTHING RETURNING slot"
    "), counted AS ("
    " SELECT entrypoint,"
    " count(*) FILTER (WHERE status = 'queued' AND execute_after <= now()) AS due,"
    " count(*) FILTER (WHERE status = 'queued' AND execute_after > now()) AS scheduled,"
    " count(*) FILTER (WHERE status = 'picked') AS picked,"
    " extract(epoch FROM now() - min(greatest(created, execute_after))"
    " FILTER (WHERE status = 'queued' AND execute_after <= now()))::float8"
    " AS oldest_due_seconds"
    " FROM {jobs} WHERE status IN ('queued', 'picked') AND EXISTS (SELECT 1 FROM claimed)"
    " GROUP BY entrypoint"
    "), paused AS ("
    " SELECT entrypoint FROM {control} WHERE paused_until IS NULL OR paused_until > now()"
    "), written AS ("
    " INSERT INTO {history} (slot, entrypoint, due, scheduled, picked, oldest_due_seconds,"
    " paused)"
    " SELECT c.slot, e.entrypoint, coalesce(n.due, 0), coalesce(n.scheduled, 0),"
    " coalesce(n.picked, 0), n.oldest_due_seconds,"
    " EXISTS (SELECT 1 FROM paused p WHERE p.entrypoint IN (e.entrypoint, '*'))"
    " FROM claimed c CROSS JOIN (SELECT entrypoint FROM counted"
    " UNION SELECT entrypoint FROM paused WHERE entrypoint <> '*') e"
    " LEFT JOIN counted n ON n.entrypoint = e.entrypoint"
    " ORDER BY e.entrypoint RETURNING 1"
    "), pruned AS ("
    " DELETE FROM {history} WHERE EXISTS (SELECT 1 FROM claimed)"
    " AND slot < now() - make_interval(secs => %(retention_seconds)s::float8) RETURNING 1"
    "), pruned_samples AS ("
    " DELETE FROM {history_samples} WHERE EXISTS (SELECT 1 FROM claimed)"
    " AND slot < now() - make_interval(secs => %(retention_seconds)s::float8) RETURNING 1"
    ") SELECT (SELECT slot FROM claimed), (SELECT count(*) FROM written),"
    " (SELECT count(*) FROM pruned) + (SELECT count(*) FROM pruned_samples)"
)
# The winner notes how long its sample took: the spacing of the next one depends on it.
RECORD_SAMPLE_COST: LiteralString = (
    "UPDATE {history_samples} SET took_seconds = %(took)s WHERE slot = %(slot)s"
)


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerStatements:
    dequeue: bytes
    complete: Positional
    heartbeat: bytes
    give_up_lost: bytes
    deregister: bytes
    next_due: bytes
    prune: bytes
    prune_finished: bytes
    jobs_need_vacuum: bytes
    vacuum_jobs: bytes
    jobs_table: str
    """The jobs table's quoted name, the value jobs_need_vacuum looks up."""
    register_schedules: bytes
    claim_schedules: bytes
    sample_history: bytes
    record_sample_cost: bytes
    complete_held: Positional
    claim_held: bytes
    record_claim: bytes
    begin: bytes
    commit: bytes
    rollback: bytes


@functools.lru_cache(maxsize=64)
def worker_statements(names: ObjectNames) -> WorkerStatements:
    render = Renderer(names)
    return WorkerStatements(
        dequeue=render(DEQUEUE),
        complete=positional(render(COMPLETE)),
        heartbeat=render(HEARTBEAT),
        give_up_lost=render(GIVE_UP_LOST),
        deregister=render(DEREGISTER),
        next_due=render(NEXT_DUE),
        prune=render(PRUNE),
        prune_finished=render(PRUNE_FINISHED),
        jobs_need_vacuum=render(JOBS_NEED_VACUUM),
        vacuum_jobs=render(VACUUM_JOBS),
        jobs_table=render.identifier("jobs"),
        register_schedules=render(REGISTER_SCHEDULES),
        claim_schedules=render(CLAIM_SCHEDULES),
        sample_history=render(SAMPLE_HISTORY),
        record_sample_cost=render(RECORD_SAMPLE_COST),
        complete_held=positional(render(COMPLETE_HELD)),
        claim_held=render(CLAIM_HELD),
        record_claim=render(RECORD_CLAIM),
        begin=render("BEGIN"),
        commit=render("COMMIT"),
        rollback=render("ROLLBACK"),
    )
