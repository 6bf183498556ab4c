"""What a console reads of the queue history the workers sample (see statements/worker.py)."""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.statements import Renderer

# Samples in a window, each bucket of `bucket` seconds (none: every sample on its own) reduced
# to its peaks; one row per (bucket, entrypoint), and a row without an entrypoint for samples
# that counted none (an empty queue is a sample too, unlike a time when no worker ran). Both
# keys are time first, so this is an index range over the window.
QUEUE_HISTORY: LiteralString = (
    "SELECT coalesce(date_bin(make_interval(secs => %(bucket)s::float8), s.slot,"
    " timestamptz '2000-01-01'), s.slot) AS at, h.entrypoint,"
    " coalesce(max(h.due), 0) AS due, coalesce(max(h.scheduled), 0) AS scheduled,"
    " coalesce(max(h.picked), 0) AS picked, max(h.oldest_due_seconds) AS oldest_due_seconds,"
    " coalesce(bool_or(h.paused), false) AS paused, bool_or(s.paused_all) AS paused_all"
    " FROM {history_samples} s LEFT JOIN {history} h ON h.slot = s.slot"
    " AND (%(entrypoint)s::text IS NULL OR h.entrypoint = %(entrypoint)s)"
    " WHERE s.slot >= now() - make_interval(secs => %(window)s::float8)"
    " GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST"
)


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryStatements:
    queue_history: bytes


@functools.lru_cache(maxsize=64)
def history_statements(names: ObjectNames) -> HistoryStatements:
    return HistoryStatements(queue_history=Renderer(names)(QUEUE_HISTORY))
