"""Failures grouped by what went wrong: the groups, and deleting the records of one.

A group is an entrypoint and an error pattern (the failures table's generated column, see
model/fingerprint.py); its fingerprint is computed here as the model computes it. The failures
table is kept small by retention (a week or 100,000 rows by default), so grouping it whole is
a scan of at most that many rows.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.statements import Renderer
from pgqtop.db.statements.audit import audit_cte

# model.fingerprint.fingerprint(entrypoint, error_pattern), in SQL.
FINGERPRINT: LiteralString = "left(md5(entrypoint || chr(10) || error_pattern), 12)"

GROUP_FILTER: LiteralString = (
    " (%(entrypoint)s::text IS NULL OR entrypoint = %(entrypoint)s)"
    " AND (%(seconds)s::float8 IS NULL"
    " OR failed_at >= now() - make_interval(secs => %(seconds)s::float8))"
)
FAILURE_GROUPS: LiteralString = (
    "SELECT " + FINGERPRINT + " AS fingerprint, entrypoint, error_pattern,"
    " count(*) AS count, min(failed_at) AS first_seen, max(failed_at) AS last_seen,"
    " max(id) AS sample_id, count(*) FILTER (WHERE final) AS final,"
    " count(*) FILTER (WHERE final AND requeued_at IS NULL) AS requeueable"
    " FROM {failures} WHERE"
    + GROUP_FILTER
    + " GROUP BY entrypoint, error_pattern ORDER BY count(*) DESC, max(id) DESC"
    " LIMIT %(limit)s"
)
# Single failures, newest first, with the same filter as the groups.
LIST_FAILURES: LiteralString = (
    "SELECT id, job_id, entrypoint, priority, attempts, status::text AS status, final, error,"
    " failed_at, requeued_at FROM {failures} WHERE"
    + GROUP_FILTER
    + " ORDER BY id DESC LIMIT %(limit)s"
)
# One group by its fingerprint, over the whole table, for a plan and its confirmation.
FAILURE_GROUP: LiteralString = (
    "SELECT " + FINGERPRINT + " AS fingerprint, entrypoint, error_pattern,"
    " count(*) AS count, min(failed_at) AS first_seen, max(failed_at) AS last_seen,"
    " max(id) AS sample_id, count(*) FILTER (WHERE final) AS final,"
    " count(*) FILTER (WHERE final AND requeued_at IS NULL) AS requeueable"
    " FROM {failures} WHERE " + FINGERPRINT + " = %(fingerprint)s"
    " GROUP BY entrypoint, error_pattern"
)
PURGE_GROUP: LiteralString = (
    "WITH gone AS ("
    " DELETE FROM {failures} WHERE " + FINGERPRINT + " = %(fingerprint)s RETURNING 1"
    "), "
    + audit_cte("purge-failures", "(SELECT count(*) FROM gone)")
    + " SELECT (SELECT count(*) FROM gone), (SELECT id FROM audited)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class TriageStatements:
    list_failures: bytes
    failure_groups: bytes
    failure_group: bytes
    purge_group: bytes


@functools.lru_cache(maxsize=64)
def triage_statements(names: ObjectNames) -> TriageStatements:
    render = Renderer(names)
    return TriageStatements(
        list_failures=render(LIST_FAILURES),
        failure_groups=render(FAILURE_GROUPS),
        failure_group=render(FAILURE_GROUP),
        purge_group=render(PURGE_GROUP),
    )
