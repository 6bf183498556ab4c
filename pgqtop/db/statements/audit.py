"""The audit trail's SQL: the entry an operator action writes, in the action's own statement
where it is one statement, and what `pgqtop audit` reads.

An entry is announced on the channel as it is written, one `audit` event per action, from the
RETURNING of its INSERT, so the announcement carries what the database filled in (id, time,
role) and is sent only if the action commits. Long text is cut in the announcement (a NOTIFY
payload must stay under 8000 bytes), never in the table.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.statements import Renderer
from pgqtop.db.statements.producer import ENQUEUE, ENQUEUE_ONE

ANNOUNCE: LiteralString = (
    " RETURNING a.id, pg_notify(%(channel)s, json_build_object('op', 'audit', 'id', a.id,"
    " 'at', a.at, 'action', a.action, 'actor', left(a.actor, 200), 'role', a.role,"
    " 'target', left(a.target, 300), 'count', a.count, 'reason', left(a.reason, 500))::text)"
)


def audit_cte(action: LiteralString, count: LiteralString) -> LiteralString:
    """The `audited` CTE: one entry for `action`, its count from the SQL expression `count`
    (over the action's own CTEs); actor, target and reason are parameters."""
    return (
        "audited AS ("
        " INSERT INTO {audit} AS a (action, actor, target, count, reason)"
        " SELECT '"
        + action
        + "', %(actor)s, %(target)s, "
        + count
        + ", %(reason)s"
        + ANNOUNCE
        + ")"
    )


# An action of several statements (a chunked purge in one transaction) or one whose statement
# is not ours to change (cancel) records its entry with this, after the action.
RECORD: LiteralString = (
    "WITH audited AS ("
    " INSERT INTO {audit} AS a (action, actor, target, count, reason)"
    " VALUES (%(action)s, %(actor)s, %(target)s, %(count)s, %(reason)s)" + ANNOUNCE + ")"
    " SELECT id FROM audited"
)

LOG: LiteralString = (
    "SELECT id, at, action, actor, role, target, count, reason FROM {audit}"
    " WHERE at >= now() - make_interval(secs => %(seconds)s::float8)"
    " ORDER BY id DESC LIMIT %(limit)s"
)


def _audited_enqueue(call: LiteralString) -> LiteralString:
    """The producer's enqueue call (the SECURITY DEFINER function, dedupe policy a parameter)
    with the entry that records it, in one statement."""
    return (
        "WITH enqueued(id) AS ("
        + call
        + "), "
        + audit_cte("enqueue", "(SELECT count(*) FROM enqueued)")
        + " SELECT e.id FROM enqueued e, (SELECT count(*) FROM audited) AS recorded"
    )


@dataclasses.dataclass(frozen=True, slots=True)
class AuditedEnqueue:
    """A producer's enqueue with its audit entry: an operator's enqueue from a console or the
    command line (an application's own enqueue is not an operator action)."""

    enqueue: bytes
    enqueue_one: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class AuditStatements:
    record: bytes
    log: bytes
    enqueue: AuditedEnqueue


@functools.lru_cache(maxsize=64)
def audit_statements(names: ObjectNames) -> AuditStatements:
    render = Renderer(names)
    return AuditStatements(
        record=render(RECORD),
        log=render(LOG),
        enqueue=AuditedEnqueue(
            enqueue=render(_audited_enqueue(ENQUEUE)),
            enqueue_one=render(_audited_enqueue(ENQUEUE_ONE)),
        ),
    )
