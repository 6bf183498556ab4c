"""Least-privilege GRANTs for the three kinds of role that use a pgqtop queue.

- worker: takes jobs, finishes them, records statistics and failures, prunes old rows,
  registers itself, and enqueues the runs of its scheduled entrypoints. It reads the control
  table but never changes a pause, and it cannot ask for a cancel (it may update only the
  columns a take, a retry and a heartbeat write). What the grant inherently allows is to
  take and finish any job of the queue, since that is a worker's work: it could delete any
  row, or take one and record whatever outcome it likes; only row-level security would narrow
  that, and pgqtop does not install any.
- producer: adds jobs and nothing else. It calls the enqueue functions (SECURITY DEFINER, see
  pgqtop.db.schema), which apply the dedupe policy and return the new ids, and may INSERT the
  columns a job is made of (binary COPY, plain SQL). It cannot read, change or delete any job,
  nor read failures.
- console: reads everything; may pause and resume entrypoints, requeue failed jobs, delete
  the records of failures (a failure group) and ask for a running job to be canceled (the one
  column `cancel_requested_at`), but may NOT delete jobs (no purge) nor finish them. A console
  that also runs handlers in its embedded engine needs the worker grants as well.

The audit trail is written by consoles and read by them, and changed by nobody: a console may
insert only the columns that describe the action (the database fills the role and the time),
no role is granted UPDATE or DELETE on it, and workers and producers cannot touch it at all.
Only the owner of the tables can change or remove an audit row.
"""

from __future__ import annotations

import dataclasses

from psycopg import sql

from pgqtop.config import ObjectNames
from pgqtop.db.schema import FUNCTIONS, Function, trusted

PURPOSES = ("worker", "producer", "console")


@dataclasses.dataclass(frozen=True, slots=True)
class TableGrant:
    privileges: str
    """Trusted constant privilege list, e.g. `SELECT, INSERT` or `SELECT (id)`."""
    table: str
    """Attribute of ObjectNames naming the table."""


_TABLES = (
    "jobs",
    "statistics",
    "failures",
    "control",
    "workers",
    "schedules",
    "meta",
    "history_samples",
    "history",
    "audit",
    "finished",
    "claims",
)

# Reading a column in a WHERE, ON CONFLICT or RETURNING clause needs SELECT on it, so every
# role that deletes or upserts also reads the rows it touches.
_TABLE_GRANTS: dict[str, tuple[TableGrant, ...]] = {
    "worker": (
        # Only what a take, a retry and a heartbeat write: not cancel_requested_at.
        TableGrant(
            "SELECT, DELETE, UPDATE (status, updated, heartbeat, worker_id, attempts,"
            " execute_after)",
            "jobs",
        ),
        # The runs of scheduled entrypoints, and nothing else: no payloads, no priorities.
        TableGrant("INSERT (entrypoint, headers, dedupe_key)", "jobs"),
        TableGrant("SELECT, INSERT, UPDATE, DELETE", "statistics"),
        TableGrant("SELECT, INSERT, DELETE", "failures"),
        TableGrant("SELECT, DELETE", "control"),
        TableGrant("SELECT, INSERT, UPDATE, DELETE", "workers"),
        TableGrant("SELECT, INSERT, UPDATE", "schedules"),
        TableGrant("SELECT", "meta"),
        # Each finished job's end, written by the completion and pruned by age and count.
        TableGrant("SELECT, INSERT, DELETE", "finished"),
        # Queue history: claim a sample (locking the latest one), write it, prune by age.
        TableGrant("SELECT, INSERT, UPDATE (took_seconds), DELETE", "history_samples"),
        TableGrant("SELECT, INSERT, DELETE", "history"),
        # The batches held by row locks: each worker writes its lanes' rows, and a take
        # reads every row (and removes the ids it counted as lost attempts).
        TableGrant("SELECT, INSERT, UPDATE, DELETE", "claims"),
    ),
    "producer": (
        # COPY and plain INSERTs; the status, attempts and worker columns keep their defaults.
        TableGrant(
            "INSERT (priority, entrypoint, payload, headers, execute_after, dedupe_key)", "jobs"
        ),
        TableGrant("SELECT", "meta"),
    ),
    "console": (
        *(TableGrant("SELECT", table) for table in _TABLES),
        TableGrant("INSERT", "jobs"),
        # A cancel is a request written here; the job's holder reads it at its next heartbeat.
        TableGrant("UPDATE (cancel_requested_at)", "jobs"),
        TableGrant("INSERT, UPDATE, DELETE", "control"),
        TableGrant("UPDATE (requeued_at), DELETE", "failures"),
        TableGrant("INSERT (actor, action, target, count, reason)", "audit"),
    ),
}

# Identity columns draw from sequences; inserting a row needs USAGE on the one behind it.
_SEQUENCES: dict[str, tuple[str, ...]] = {
    "worker": ("failures", "jobs"),
    # GENERATED ALWAYS identities need no USAGE, which would let a producer burn ids.
    "producer": (),
    "console": ("jobs", "audit"),
}

# Roles that enqueue through the library call the enqueue functions.
_FUNCTIONS: dict[str, tuple[Function, ...]] = {
    "worker": (),
    "producer": FUNCTIONS,
    "console": FUNCTIONS,
}


def identity_sequence(names: ObjectNames, table: str) -> str:
    """PostgreSQL's name for the sequence of a table's `id` identity column."""
    return f"{getattr(names, table)}_id_seq"


def grant_statements(names: ObjectNames, role: str, purpose: str) -> list[sql.Composed]:
    """The GRANTs `role` needs to act as `purpose`, every name quoted as an identifier."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    grantee = sql.Identifier(role)
    statements = [
        sql.SQL("GRANT USAGE ON TYPE {} TO {}").format(sql.Identifier(names.status_type), grantee)
    ]
    statements += [
        sql.SQL("GRANT {} ON TABLE {} TO {}").format(
            trusted(grant.privileges), sql.Identifier(getattr(names, grant.table)), grantee
        )
        for grant in _TABLE_GRANTS[purpose]
    ]
    statements += [
        sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
            sql.Identifier(identity_sequence(names, table)), grantee
        )
        for table in _SEQUENCES[purpose]
    ]
    statements += [
        sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(function.signature(names), grantee)
        for function in _FUNCTIONS[purpose]
    ]
    return statements
