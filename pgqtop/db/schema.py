"""The database objects pgqtop owns: install, upgrade, uninstall and verify them.

The tables are described once, as data, so that creating, upgrading (adding what is missing) and
verifying (reporting what differs) can never disagree with each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pgqtop.config import ObjectNames
from pgqtop.errors import SchemaMissing, SchemaOutdated
from pgqtop.model import ALL_STATUSES
from pgqtop.model.fingerprint import NORMALISATIONS

SCHEMA_VERSION = 5


def trusted(text: str) -> sql.SQL:
    """Wrap SQL text that is a constant of this module (types, clauses), never user input."""
    return sql.SQL(text)


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    """Type as `format_type` reports it, so verify can compare it to the catalogue."""
    extra: str = ""
    """NOT NULL, DEFAULT and identity clauses; trusted constant SQL, never user input."""

    def definition(self, names: ObjectNames) -> sql.Composable:
        type_part = (
            sql.Identifier(names.status_type) if self.type == "status" else trusted(self.type)
        )
        return sql.SQL("{} {} {}").format(sql.Identifier(self.name), type_part, trusted(self.extra))


@dataclasses.dataclass(frozen=True, slots=True)
class Table:
    key: str
    """Attribute of ObjectNames holding the table's name."""
    columns: tuple[Column, ...]
    constraints: tuple[str, ...] = ()
    storage: str = ""
    unlogged: bool = False
    """Kept out of the WAL: cheap to write, emptied by a crash, unreadable on a replica. Only
    for what is worth less than its write (see FINISHED)."""

    def name(self, names: ObjectNames) -> str:
        return str(getattr(names, self.key))


JOBS = Table(
    "jobs",
    (
        Column("id", "bigint", "GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
        Column("priority", "integer", "NOT NULL DEFAULT 0"),
        Column("created", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("updated", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("execute_after", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("status", "status", "NOT NULL DEFAULT 'queued'"),
        Column("entrypoint", "text", "NOT NULL CHECK (entrypoint <> '' AND entrypoint <> '*')"),
        Column("payload", "bytea"),
        Column("headers", "jsonb"),
        Column("attempts", "integer", "NOT NULL DEFAULT 0"),
        Column("dedupe_key", "text"),
        Column("heartbeat", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("worker_id", "uuid"),
        # Set by a console role to ask the job's holder to cancel it: a request is data that
        # only a role allowed to write it can make, so a NOTIFY alone cancels nothing.
        Column("cancel_requested_at", "timestamp with time zone"),
    ),
    # A queue table is mostly dead tuples in waiting: vacuum it early and without throttling.
    storage=(
        "autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, "
        "autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_vacuum_cost_limit = 2000, "
        "autovacuum_vacuum_cost_delay = 1, autovacuum_analyze_scale_factor = 0.02, "
        "fillfactor = 90"
    ),
)

# Latency histograms of the jobs a statistics row counts: per bucket of model.latency.BOUNDS,
# how many waited (due to picked) or ran that long. An array ends at its last non-empty bucket.
LATENCY_COLUMNS = (
    Column("wait_histogram", "integer[]", "NOT NULL DEFAULT '{}'"),
    Column("run_histogram", "integer[]", "NOT NULL DEFAULT '{}'"),
)

STATISTICS = Table(
    "statistics",
    (
        Column("created", "timestamp with time zone", "NOT NULL"),
        Column("entrypoint", "text", "NOT NULL"),
        Column("status", "status", "NOT NULL"),
        Column("priority", "integer", "NOT NULL"),
        Column("count", "bigint", "NOT NULL"),
        Column("queue_seconds_sum", "double precision", "NOT NULL DEFAULT 0"),
        Column("queue_seconds_max", "double precision", "NOT NULL DEFAULT 0"),
        Column("run_seconds_sum", "double precision", "NOT NULL DEFAULT 0"),
        Column("run_seconds_max", "double precision", "NOT NULL DEFAULT 0"),
        *LATENCY_COLUMNS,
    ),
    # Time first: the console reads time windows; writers upsert rows sorted by this same key.
    constraints=("PRIMARY KEY (created, entrypoint, status, priority)",),
    storage="autovacuum_vacuum_scale_factor = 0.05, fillfactor = 80",
)


def _error_pattern_expression() -> str:
    """SQL computing model.fingerprint.error_pattern(error): the same rules, in order, every
    match replaced; rendered once from constants of the model (no user input)."""
    expression: sql.Composable = sql.SQL("split_part(error, chr(10), 1)")
    for pattern, replacement in NORMALISATIONS:
        expression = sql.SQL("regexp_replace({}, {}, {}, 'g')").format(
            expression, sql.Literal(pattern), sql.Literal(replacement)
        )
    return sql.SQL("GENERATED ALWAYS AS ({}) STORED").format(expression).as_string(None)


# Failures that are the same failure share this pattern (the error's first line with its
# values replaced); computed by the database on insert, so no writer has to know about it.
ERROR_PATTERN = Column("error_pattern", "text", _error_pattern_expression())

FAILURES = Table(
    "failures",
    (
        Column("id", "bigint", "GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
        Column("job_id", "bigint", "NOT NULL"),
        Column("entrypoint", "text", "NOT NULL"),
        Column("priority", "integer", "NOT NULL DEFAULT 0"),
        Column("payload", "bytea"),
        Column("headers", "jsonb"),
        Column("attempts", "integer", "NOT NULL DEFAULT 0"),
        Column("status", "status", "NOT NULL DEFAULT 'exception'"),
        Column("final", "boolean", "NOT NULL DEFAULT true"),
        Column("error", "text", "NOT NULL DEFAULT ''"),
        Column("traceback", "text", "NOT NULL DEFAULT ''"),
        Column("job_created", "timestamp with time zone"),
        Column("failed_at", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("worker_id", "uuid"),
        Column("requeued_at", "timestamp with time zone"),
        ERROR_PATTERN,
    ),
)

CONTROL = Table(
    "control",
    (
        Column("entrypoint", "text", "PRIMARY KEY"),
        Column("paused_at", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("paused_until", "timestamp with time zone"),
        Column("paused_by", "text", "NOT NULL DEFAULT ''"),
        Column("reason", "text", "NOT NULL DEFAULT ''"),
    ),
)

WORKERS = Table(
    "workers",
    (
        Column("id", "uuid", "PRIMARY KEY"),
        Column("host", "text", "NOT NULL"),
        Column("pid", "integer", "NOT NULL"),
        Column("version", "text", "NOT NULL DEFAULT ''"),
        Column("entrypoints", "text[]", "NOT NULL DEFAULT '{}'"),
        Column("concurrency", "integer", "NOT NULL DEFAULT 0"),
        Column("started", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("heartbeat", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("in_flight", "integer", "NOT NULL DEFAULT 0"),
        Column("processed", "bigint", "NOT NULL DEFAULT 0"),
        Column("failed", "bigint", "NOT NULL DEFAULT 0"),
        Column("state", "text", "NOT NULL DEFAULT 'running'"),
        # Resident memory of the worker process at its last heartbeat.
        Column("rss_bytes", "bigint"),
        # Threads still running sync handlers whose jobs already ended (timed out, canceled):
        # they hold a place in the pool until they return.
        Column("hung_threads", "integer", "NOT NULL DEFAULT 0"),
        # How new work reaches it: 'listen' (it holds one of the fleet's LISTEN seats),
        # 'standby' (it may listen, but enough workers ahead of it do: it polls), 'poll' (told
        # not to listen). engine/seats.py.
        Column("wake", "text", "NOT NULL DEFAULT 'listen'"),
    ),
)

# One row per scheduled entrypoint; the worker that moves `next_run` on enqueues that run's job.
SCHEDULES = Table(
    "schedules",
    (
        Column("entrypoint", "text", "PRIMARY KEY"),
        Column("expression", "text", "NOT NULL"),
        Column("next_run", "timestamp with time zone", "NOT NULL"),
        Column("last_run", "timestamp with time zone"),
        Column("updated", "timestamp with time zone", "NOT NULL DEFAULT now()"),
    ),
)

META = Table(
    "meta",
    (
        Column("key", "text", "PRIMARY KEY"),
        Column("value", "text", "NOT NULL"),
    ),
)

# The batches workers hold by row locks (the lock claim, engine/lanes.py): one row per worker
# lane, naming the jobs its open transaction holds. The row is written and committed as the
# batch is taken and emptied in the transaction that finishes the batch, so ids left in a row
# are jobs whose holder died (or lost its connection) before it could finish them: a take that
# finds its job listed counts those as lost attempts. `lo` and `hi` bound the ids, so a take
# only looks into rows that can name its jobs.
CLAIMS = Table(
    "claims",
    (
        Column("worker_id", "uuid", "NOT NULL"),
        Column("lane", "integer", "NOT NULL"),
        Column("ids", "bigint[]", "NOT NULL DEFAULT '{}'"),
        Column("lo", "bigint"),
        Column("hi", "bigint"),
        Column("claimed_at", "timestamp with time zone", "NOT NULL DEFAULT now()"),
    ),
    constraints=("PRIMARY KEY (worker_id, lane)",),
)

# The end of each job, kept for a short while (Settings.keep_finished_seconds) so `pgqtop job`
# can tell what happened after the job's row left the jobs table. Append-only and narrow: no
# payload, headers or error (a failure's are in the failures table); pruned by age and count.
FINISHED = Table(
    "finished",
    (
        Column("job_id", "bigint", "NOT NULL"),
        Column("entrypoint", "text", "NOT NULL"),
        Column("priority", "integer", "NOT NULL"),
        Column("status", "status", "NOT NULL"),
        Column("attempts", "integer", "NOT NULL"),
        Column("created", "timestamp with time zone", "NOT NULL"),
        Column("execute_after", "timestamp with time zone", "NOT NULL"),
        Column("picked", "timestamp with time zone", "NOT NULL"),
        Column("finished", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("run_seconds", "double precision", "NOT NULL"),
        Column("worker_id", "uuid"),
        # Copied from the registry: a worker's row goes when it stops, its jobs' story stays.
        Column("host", "text"),
        Column("pid", "integer"),
    ),
    storage="autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_insert_scale_factor = 0.1",
    # A lookup aid for the last hour, not a record (statistics and failures are logged): out
    # of the WAL its rows cost a fraction of what they did, the biggest part of the cost of
    # keeping finished jobs. A server crash empties it; a hot standby has none of it.
    unlogged=True,
)

# Queue history: one row per sample the fleet took (the slot it claimed), and one per
# entrypoint counted in it. Time first in both keys: reads are time ranges, pruning by age.
HISTORY_SAMPLES = Table(
    "history_samples",
    (
        Column("slot", "timestamp with time zone", "PRIMARY KEY"),
        Column("sampled_at", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("worker_id", "uuid"),
        Column("took_seconds", "double precision", "NOT NULL DEFAULT 0"),
        Column("paused_all", "boolean", "NOT NULL DEFAULT false"),
    ),
)

HISTORY = Table(
    "history",
    (
        Column("slot", "timestamp with time zone", "NOT NULL"),
        Column("entrypoint", "text", "NOT NULL"),
        Column("due", "bigint", "NOT NULL DEFAULT 0"),
        Column("scheduled", "bigint", "NOT NULL DEFAULT 0"),
        Column("picked", "bigint", "NOT NULL DEFAULT 0"),
        Column("oldest_due_seconds", "double precision"),
        Column("paused", "boolean", "NOT NULL DEFAULT false"),
    ),
    constraints=("PRIMARY KEY (slot, entrypoint)",),
)

# Every operator action. The database fills the role and the time: a client names neither
# (the console role may insert only the other columns), and only the owner may change a row.
AUDIT = Table(
    "audit",
    (
        Column("id", "bigint", "GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
        Column("at", "timestamp with time zone", "NOT NULL DEFAULT now()"),
        Column("role", "text", "NOT NULL DEFAULT current_user"),
        Column("actor", "text", "NOT NULL DEFAULT ''"),
        Column("action", "text", "NOT NULL"),
        Column("target", "text", "NOT NULL DEFAULT ''"),
        Column("count", "bigint", "NOT NULL DEFAULT 0"),
        Column("reason", "text", "NOT NULL DEFAULT ''"),
    ),
)

TABLES = (
    JOBS,
    STATISTICS,
    FAILURES,
    CONTROL,
    WORKERS,
    SCHEDULES,
    META,
    HISTORY_SAMPLES,
    HISTORY,
    AUDIT,
    FINISHED,
    CLAIMS,
)


@dataclasses.dataclass(frozen=True, slots=True)
class Index:
    suffix: str
    table: Table
    definition: str
    """Columns and predicate; trusted constant SQL."""
    unique: bool = False


INDEXES = (
    # Serves the dequeue: per entrypoint, highest priority first, FIFO within it.
    Index("jobs_queued", JOBS, "(entrypoint, priority DESC, id) WHERE status = 'queued'"),
    # Serves the stalled-job scan: picked rows whose heartbeat is too old.
    Index("jobs_picked", JOBS, "(heartbeat) WHERE status = 'picked'"),
    # A dedupe key is unique among jobs still waiting or running.
    Index(
        "jobs_dedupe",
        JOBS,
        "(dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'picked')",
        unique=True,
    ),
    # A job's story: its failed attempts, looked up by job id.
    Index("failures_job", FAILURES, "(job_id)"),
    # Finished jobs arrive in time order and nearly in id order, so one block range index
    # serves the age prune, the count prune and a lookup by id (the multi-minmax summary
    # tolerates the odd old id, a retried or delayed job), at almost no cost per insert:
    # a B-tree on job_id doubled the cost of keeping the rows.
    Index(
        "finished_brin",
        FINISHED,
        "USING brin (finished, job_id int8_minmax_multi_ops) WITH (autosummarize = on)",
    ),
)

NOTIFY_FUNCTION_BODY = """
DECLARE
  changes jsonb;
  message text;
  -- Workers hear only of jobs that became queued (added, retried, requeued): a take or a
  -- completion, the bulk of the traffic, would wake every listening worker for nothing.
  for_workers boolean := TG_OP IN ('INSERT', 'TRUNCATE');
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT jsonb_object_agg(entrypoint, counts) INTO changes FROM (
      SELECT entrypoint, jsonb_object_agg(status, n) AS counts FROM (
        SELECT entrypoint, status::text AS status, count(*) AS n
        FROM new_rows GROUP BY 1, 2) AS s GROUP BY entrypoint) AS e;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT jsonb_object_agg(entrypoint, counts) INTO changes FROM (
      SELECT entrypoint, jsonb_object_agg(status, -n) AS counts FROM (
        SELECT entrypoint, status::text AS status, count(*) AS n
        FROM old_rows GROUP BY 1, 2) AS s GROUP BY entrypoint) AS e;
  ELSIF TG_OP = 'UPDATE' THEN
    for_workers := EXISTS (SELECT 1 FROM new_rows WHERE status = 'queued');
    SELECT jsonb_object_agg(entrypoint, counts) INTO changes FROM (
      SELECT entrypoint, jsonb_object_agg(status, n) AS counts FROM (
        SELECT entrypoint, status, sum(n) AS n FROM (
          SELECT entrypoint, status::text AS status, 1 AS n FROM new_rows
          UNION ALL
          SELECT entrypoint, status::text, -1 FROM old_rows) AS u
        GROUP BY 1, 2 HAVING sum(n) <> 0) AS s GROUP BY entrypoint) AS e;
  END IF;
  IF TG_OP <> 'TRUNCATE' AND changes IS NULL THEN
    RETURN NULL;  -- nothing a listener could care about (an empty dequeue, a heartbeat)
  END IF;
  message := json_build_object('op', lower(TG_OP), 'changes', changes)::text;
  IF octet_length(message) > 7000 THEN
    message := json_build_object('op', lower(TG_OP), 'overflow', true)::text;
  END IF;
  PERFORM pg_notify(TG_ARGV[0], message);
  IF for_workers AND TG_NARGS > 1 THEN
    PERFORM pg_notify(TG_ARGV[1], message);
  END IF;
  RETURN NULL;
END
"""


# --- enqueue functions ----------------------------------------------------------------------------
#
# A producer role may add jobs and do nothing else. Adding a job with its dedupe policy needs
# to read and update waiting rows (ON CONFLICT, RETURNING), which a grant on the table would
# give for every row, so producers call these functions instead: SECURITY DEFINER, they run
# as the installer, with search_path pinned to pg_catalog (pg_temp last) so that no function,
# operator or table of the caller's can stand in for ours. The jobs table is named with its
# schema: the functions are created by a DO block that reads current_schema() (where the
# tables are created too) and quotes every name with format('%I'). EXECUTE is revoked from
# PUBLIC; `pgqtop grants` gives it to the roles that enqueue.

_ENQUEUE_COLUMNS = "(priority, entrypoint, payload, headers, execute_after, dedupe_key)"
_ON_WAITING_KEY = (
    "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'picked') "
)
_POLICY_ENDINGS = (
    ("error", "RETURNING j.id"),
    ("skip", _ON_WAITING_KEY + "DO NOTHING RETURNING j.id"),
    (
        "keep-higher-priority",
        _ON_WAITING_KEY + "DO UPDATE SET priority = greatest(j.priority, EXCLUDED.priority), "
        "updated = now() RETURNING j.id",
    ),
)


def _policy_body(rows: str) -> str:
    """A plpgsql body inserting `rows` under the dedupe policy named by the `policy` argument.
    `%1$I.%3$I` is the jobs table, filled in by format() when the function is created. Built
    from this module's constants only."""
    branches = [
        ("  IF" if i == 0 else "  ELSIF")
        + " policy = '"
        + policy
        + "' THEN\n    RETURN QUERY INSERT INTO %1$I.%3$I AS j "
        + _ENQUEUE_COLUMNS
        + "\n      "
        + rows
        + "\n      "
        + ending
        + ";\n"
        for i, (policy, ending) in enumerate(_POLICY_ENDINGS)
    ]
    return (
        "\nBEGIN\n"
        + "".join(branches)
        + "  ELSE\n    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',\n"
        "      MESSAGE = 'unknown dedupe policy ' || quote_literal(policy);\n"
        "  END IF;\nEND\n"
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Function:
    key: str
    """Attribute of ObjectNames holding the function's name."""
    parameters: tuple[tuple[str, str], ...]
    """(name, type) of each argument; trusted constants."""
    body: str
    """plpgsql, with `%1$I.%3$I` for the jobs table; trusted constant text."""

    def name(self, names: ObjectNames) -> str:
        return str(getattr(names, self.key))

    def types(self) -> str:
        return ", ".join(kind for _, kind in self.parameters)

    def signature(self, names: ObjectNames) -> sql.Composed:
        """The function as GRANT, REVOKE and DROP name it: its name and argument types."""
        return sql.SQL("{}({})").format(sql.Identifier(self.name(names)), trusted(self.types()))

    def creation(self, names: ObjectNames) -> sql.Composed:
        """CREATE OR REPLACE, in the current schema, through a DO block (see above). The
        template is this module's constant text; the names reach it as literals, and
        format('%I') quotes them."""
        parameters = ", ".join(name + " " + kind for name, kind in self.parameters)
        template = (
            "CREATE OR REPLACE FUNCTION %1$I.%2$I("
            + parameters
            + ") RETURNS SETOF bigint LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = pg_catalog, pg_temp AS $function$" + self.body + "$function$"
        )
        if "$template$" in template or "$do$" in template:
            raise ValueError("a function body must not contain the DO block's quotes")
        return sql.Composed(
            [
                trusted(
                    "DO $do$ DECLARE here text := pg_catalog.current_schema(); BEGIN "
                    "IF here IS NULL THEN RAISE EXCEPTION 'no schema to create pgqtop''s "
                    "functions in: check search_path'; END IF; "
                    "EXECUTE pg_catalog.format($template$"
                ),
                trusted(template),
                sql.SQL("$template$, here, {}, {}); END $do$").format(
                    sql.Literal(self.name(names)), sql.Literal(names.jobs)
                ),
            ]
        )


ENQUEUE = Function(
    "enqueue_function",
    (
        ("priority_list", "integer[]"),
        ("entrypoint_list", "text[]"),
        ("payload_list", "bytea[]"),
        ("headers_list", "jsonb[]"),
        ("delay_list", "double precision[]"),
        ("key_list", "text[]"),
        ("policy", "text"),
    ),
    _policy_body(
        "SELECT p, e, pl, h, now() + make_interval(secs => d), k FROM unnest(priority_list, "
        "entrypoint_list, payload_list, headers_list, delay_list, key_list) AS t(p, e, pl, h, d, k)"
    ),
)
ENQUEUE_ONE = Function(
    "enqueue_one_function",
    (
        ("new_priority", "integer"),
        ("new_entrypoint", "text"),
        ("new_payload", "bytea"),
        ("new_headers", "jsonb"),
        ("new_delay", "double precision"),
        ("new_key", "text"),
        ("policy", "text"),
    ),
    _policy_body(
        "VALUES (new_priority, new_entrypoint, new_payload, new_headers, "
        "now() + make_interval(secs => new_delay), new_key)"
    ),
)
FUNCTIONS = (ENQUEUE, ENQUEUE_ONE)


def _create_functions(names: ObjectNames) -> list[sql.Composed]:
    statements: list[sql.Composed] = []
    for function in FUNCTIONS:
        statements.append(function.creation(names))
        statements.append(
            sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(function.signature(names))
        )
    return statements


def _create_type(names: ObjectNames) -> sql.Composed:
    labels = sql.SQL(", ").join(sql.Literal(s.value) for s in ALL_STATUSES)
    return sql.SQL(
        "DO $do$ BEGIN CREATE TYPE {} AS ENUM ({}); "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $do$"
    ).format(sql.Identifier(names.status_type), labels)


def _create_table(table: Table, names: ObjectNames) -> sql.Composed:
    parts: list[sql.Composable] = [c.definition(names) for c in table.columns]
    parts += [trusted(c) for c in table.constraints]
    create = (
        "CREATE UNLOGGED TABLE IF NOT EXISTS {} ({})"
        if table.unlogged
        else ("CREATE TABLE IF NOT EXISTS {} ({})")
    )
    statement = sql.SQL(create).format(sql.Identifier(table.name(names)), sql.SQL(", ").join(parts))
    if table.storage:
        statement += sql.SQL(" WITH ({})").format(trusted(table.storage))
    return statement


def _set_storage(table: Table, names: ObjectNames) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} SET ({})").format(
        sql.Identifier(table.name(names)), trusted(table.storage)
    )


def _set_unlogged(table: Table, names: ObjectNames) -> sql.Composed:
    """An older install's logged table made unlogged (nothing to do when it already is)."""
    return sql.SQL("ALTER TABLE {} SET UNLOGGED").format(sql.Identifier(table.name(names)))


def _add_missing_columns(table: Table, names: ObjectNames) -> list[sql.Composed]:
    return [
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {}").format(
            sql.Identifier(table.name(names)), column.definition(names)
        )
        for column in table.columns
        if "PRIMARY KEY" not in column.extra and "IDENTITY" not in column.extra
    ]


def _create_index(index: Index, names: ObjectNames) -> sql.Composed:
    return sql.SQL("CREATE {}INDEX IF NOT EXISTS {} ON {} {}").format(
        sql.SQL("UNIQUE " if index.unique else ""),
        sql.Identifier(names.index(index.suffix)),
        sql.Identifier(index.table.name(names)),
        trusted(index.definition),
    )


def _trigger_name(names: ObjectNames, op: str) -> str:
    return f"{names.prefix}_jobs_notify_{op}"


def _create_triggers(names: ObjectNames) -> list[sql.Composed]:
    function = sql.SQL(
        "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {}"
    ).format(sql.Identifier(names.notify_function), sql.Literal(NOTIFY_FUNCTION_BODY))
    statements = [function]
    referencing = {
        "insert": "REFERENCING NEW TABLE AS new_rows",
        "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "delete": "REFERENCING OLD TABLE AS old_rows",
        "truncate": "",
    }
    for op, clause in referencing.items():
        trigger = sql.Identifier(_trigger_name(names, op))
        table = sql.Identifier(names.jobs)
        statements.append(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trigger, table))
        statements.append(
            sql.SQL(
                "CREATE TRIGGER {} AFTER {} ON {} {} FOR EACH STATEMENT EXECUTE FUNCTION {}({})"
            ).format(
                trigger,
                trusted(op.upper()),
                table,
                trusted(clause),
                sql.Identifier(names.notify_function),
                sql.SQL(", ").join([sql.Literal(names.channel), sql.Literal(names.work_channel)]),
            )
        )
    return statements


def _set_version(names: ObjectNames) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {} (key, value) VALUES ('schema_version', {}) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    ).format(sql.Identifier(names.meta), sql.Literal(str(SCHEMA_VERSION)))


def install_statements(names: ObjectNames) -> list[sql.Composed]:
    """Every statement of an install; each one is idempotent, so install doubles as repair."""
    statements = [_create_type(names)]
    for table in TABLES:
        statements.append(_create_table(table, names))
        statements.extend(_add_missing_columns(table, names))
        if table.unlogged:
            statements.append(_set_unlogged(table, names))
        if table.storage:
            statements.append(_set_storage(table, names))
    statements.extend(_create_index(index, names) for index in INDEXES)
    statements.extend(_create_triggers(names))
    statements.extend(_create_functions(names))
    statements.append(_set_version(names))
    return statements


def uninstall_statements(names: ObjectNames) -> list[sql.Composed]:
    statements = [
        sql.SQL("DROP FUNCTION IF EXISTS {}").format(function.signature(names))
        for function in FUNCTIONS
    ]
    statements += [
        sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(t.name(names)))
        for t in TABLES
    ]
    statements.append(
        sql.SQL("DROP FUNCTION IF EXISTS {}() CASCADE").format(
            sql.Identifier(names.notify_function)
        )
    )
    statements.append(
        sql.SQL("DROP TYPE IF EXISTS {} CASCADE").format(sql.Identifier(names.status_type))
    )
    return statements


def render(statements: list[sql.Composed]) -> str:
    """SQL text for `--dry-run`, one statement per line, no connection needed."""
    return "\n".join(s.as_string(None) + ";" for s in statements)


Progress = Callable[[int, int], None]
"""Told (statements done, statements in all) as an install or upgrade goes."""


def install(
    conn: psycopg.Connection[Any], names: ObjectNames, progress: Progress | None = None
) -> None:
    """Create or repair every object, in one transaction: all or nothing."""
    statements = install_statements(names)
    with conn.transaction():
        for done, statement in enumerate(statements, 1):
            conn.execute(statement)
            if progress is not None:
                progress(done, len(statements))


def upgrade(
    conn: psycopg.Connection[Any], names: ObjectNames, progress: Progress | None = None
) -> int:
    """Bring an older install forward; returns the version found before (0 when unknown)."""
    before = installed_version(conn, names)
    if before is None:
        raise SchemaMissing(f"nothing installed at prefix {names.prefix!r}: run `pgqtop install`")
    install(conn, names, progress)
    return before


def uninstall(conn: psycopg.Connection[Any], names: ObjectNames) -> None:
    with conn.transaction():
        for statement in uninstall_statements(names):
            conn.execute(statement)


def installed_version(conn: psycopg.Connection[Any], names: ObjectNames) -> int | None:
    """The schema version recorded in the meta table; None when pgqtop is not installed."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (_qualified(names.jobs),))
    row = exists.fetchone()
    if not row or not row[0]:
        return None
    meta_exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (_qualified(names.meta),))
    meta_row = meta_exists.fetchone()
    if not meta_row or not meta_row[0]:
        return 0
    cur = conn.execute(
        sql.SQL("SELECT value FROM {} WHERE key = 'schema_version'").format(
            sql.Identifier(names.meta)
        )
    )
    version = cur.fetchone()
    try:
        return int(str(version[0])) if version else 0
    except ValueError:
        return 0


def _qualified(name: str) -> str:
    """A name as to_regclass expects it: quoted, so case and odd characters survive."""
    return sql.Identifier(name).as_string(None)


def verify(conn: psycopg.Connection[Any], names: ObjectNames) -> list[str]:
    """What is missing or different from what this version installs; empty means all good."""
    problems: list[str] = []
    version = installed_version(conn, names)
    if version is None:
        return [f"jobs table {names.jobs!r} is missing: run `pgqtop install`"]
    if version != SCHEMA_VERSION:
        problems.append(
            f"schema version is {version}, this pgqtop needs {SCHEMA_VERSION}: run `pgqtop upgrade`"
        )
    labels = conn.execute(
        "SELECT coalesce(array_agg(e.enumlabel::text ORDER BY e.enumsortorder), '{}') "
        "FROM pg_type t LEFT JOIN pg_enum e ON e.enumtypid = t.oid "
        "WHERE t.oid = to_regtype(%s)",
        (_qualified(names.status_type),),
    ).fetchone()
    if labels is None or list(labels[0] or []) != list(ALL_STATUSES):
        problems.append(f"status type {names.status_type!r} is missing or has other values")
    for table in TABLES:
        table_name = table.name(names)
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            (_qualified(table_name),),
        ).fetchall()
        if not rows:
            problems.append(f"table {table_name!r} is missing")
            continue
        persistence = conn.execute(
            "SELECT relpersistence FROM pg_class WHERE oid = to_regclass(%s)",
            (_qualified(table_name),),
        ).fetchone()
        if table.unlogged and persistence is not None and persistence[0] != "u":
            problems.append(f"table {table_name!r} should be unlogged")
        found = {str(r[0]): str(r[1]) for r in rows}
        for column in table.columns:
            expected = names.status_type if column.type == "status" else column.type
            actual = found.get(column.name)
            if actual is None:
                problems.append(f"column {table_name}.{column.name} is missing")
            elif actual.strip('"') != expected:
                problems.append(
                    f"column {table_name}.{column.name} is {actual}, expected {expected}"
                )
    for index in INDEXES:
        present = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (_qualified(names.index(index.suffix)),)
        ).fetchone()
        if not present or not present[0]:
            problems.append(f"index {names.index(index.suffix)!r} is missing")
    triggers = conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname = ANY(%s)"
        " AND tgnargs = 2",
        (_qualified(names.jobs), [_trigger_name(names, op) for op in _TRIGGER_OPS]),
    ).fetchone()
    if not triggers or triggers[0] != len(_TRIGGER_OPS):
        problems.append(f"notify triggers on {names.jobs!r} are missing")
    problems.extend(_function_problems(conn, names))
    return problems


def _function_problems(conn: psycopg.Connection[Any], names: ObjectNames) -> list[str]:
    """Each enqueue function present, running as its owner, and not callable by everybody."""
    problems: list[str] = []
    for function in FUNCTIONS:
        found = conn.execute(
            "SELECT p.prosecdef, has_function_privilege('public', p.oid, 'EXECUTE') "
            "FROM pg_proc p WHERE p.oid = to_regprocedure(%s)",
            (function.signature(names).as_string(None),),
        ).fetchone()
        name = function.name(names)
        if found is None:
            problems.append(f"function {name!r} is missing")
        elif not found[0]:
            problems.append(f"function {name!r} is not SECURITY DEFINER")
        elif found[1]:
            problems.append(f"function {name!r} may be called by PUBLIC, so by any role")
    return problems


_TRIGGER_OPS = ("insert", "update", "delete", "truncate")


async def installed_version_async(
    conn: psycopg.AsyncConnection[Any], names: ObjectNames
) -> int | None:
    """The async twin of installed_version, for commands and engines on async connections."""
    cur = await conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
        (_qualified(names.jobs), _qualified(names.meta)),
    )
    found = await cur.fetchone()
    if not found or not found[0]:
        return None
    if not found[1]:
        return 0
    cur = await conn.execute(
        sql.SQL("SELECT value FROM {} WHERE key = 'schema_version'").format(
            sql.Identifier(names.meta)
        )
    )
    version = await cur.fetchone()
    try:
        return int(str(version[0])) if version else 0
    except ValueError:
        return 0


async def require_current_async(conn: psycopg.AsyncConnection[Any], names: ObjectNames) -> None:
    """The async twin of require_current."""
    check_version(await installed_version_async(conn, names), names)


def require_current(conn: psycopg.Connection[Any], names: ObjectNames) -> None:
    """Refuse to run against a missing or outdated schema, saying which command fixes it."""
    check_version(installed_version(conn, names), names)


def check_version(version: int | None, names: ObjectNames) -> None:
    """Raise the error that names the fixing command when `version` is not this one."""
    if version is None:
        raise SchemaMissing(
            f"pgqtop is not installed in this database (prefix {names.prefix!r}): "
            "run `pgqtop install`"
        )
    if version < SCHEMA_VERSION:
        raise SchemaOutdated(
            f"pgqtop schema is version {version}, this pgqtop needs {SCHEMA_VERSION}: "
            "run `pgqtop upgrade`"
        )
    if version > SCHEMA_VERSION:
        raise SchemaOutdated(
            f"pgqtop schema is version {version}, newer than this pgqtop ({SCHEMA_VERSION}): "
            "upgrade the pgqtop package"
        )
