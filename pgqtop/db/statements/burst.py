"""What a burst (a worker that drains what is due and stops) asks beyond a worker's usual
statements: which due jobs a pause held back, and, for the testing kit, bringing retries'
due time forward so a test need not wait out their delays."""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.statements import Renderer

# Due jobs of these entrypoints that a pause in force holds back, per entrypoint.
PAUSED_DUE: LiteralString = (
    "SELECT j.entrypoint, count(*)::int FROM {jobs} j"
    " WHERE j.status = 'queued' AND j.execute_after <= now()"
    " AND j.entrypoint = ANY(%(entrypoints)s::text[])"
    " AND EXISTS (SELECT 1 FROM {control} c WHERE c.entrypoint IN (j.entrypoint, '*')"
    " AND (c.paused_until IS NULL OR c.paused_until > now()))"
    " GROUP BY j.entrypoint ORDER BY j.entrypoint"
)

# Waiting jobs among these ids become due now; returns the ids it moved.
MAKE_DUE: LiteralString = (
    "UPDATE {jobs} SET execute_after = now() WHERE id = ANY(%(ids)s::bigint[])"
    " AND status = 'queued' AND execute_after > now() RETURNING id"
)


@dataclasses.dataclass(frozen=True, slots=True)
class BurstStatements:
    paused_due: bytes
    make_due: bytes


@functools.lru_cache(maxsize=64)
def burst_statements(names: ObjectNames) -> BurstStatements:
    render = Renderer(names)
    return BurstStatements(paused_due=render(PAUSED_DUE), make_due=render(MAKE_DUE))
