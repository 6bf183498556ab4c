"""What a producer runs: one INSERT per batch (arrays through unnest, or plain values for a
single job), under one of three dedupe policies, and a binary COPY for bulk loads."""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.statements import Renderer
from pgqtop.model import OnDuplicate

INSERT: LiteralString = (
    "INSERT INTO {jobs} AS j (priority, entrypoint, payload, headers, execute_after, dedupe_key) "
)
MANY_ROWS: LiteralString = (
    "SELECT p, e, pl, h, now() + make_interval(secs => d), k "
    "FROM unnest(%(priorities)b::int[], %(entrypoints)b::text[], %(payloads)b::bytea[], "
    "%(headers)b::jsonb[], %(delays)b::float8[], %(keys)b::text[]) AS t(p, e, pl, h, d, k) "
)
# One job (the common call from a web request) as plain values: a fifth less time per call
# than six one-element arrays through unnest.
ONE_ROW: LiteralString = (
    "VALUES (%(priorities)s::int, %(entrypoints)s::text, %(payloads)s::bytea, "
    "%(headers)s::jsonb, now() + make_interval(secs => %(delays)s::float8), "
    "%(keys)s::text) "
)
ON_WAITING_KEY: LiteralString = (
    "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'picked') "
)
ENDINGS: dict[OnDuplicate, LiteralString] = {
    OnDuplicate.ERROR: "RETURNING j.id",
    OnDuplicate.SKIP: ON_WAITING_KEY + "DO NOTHING RETURNING j.id",
    OnDuplicate.KEEP_HIGHER_PRIORITY: ON_WAITING_KEY
    + "DO UPDATE SET priority = greatest(j.priority, EXCLUDED.priority), updated = now() "
    "RETURNING j.id",
}
COPY_JOBS: LiteralString = (
    "COPY {jobs} (priority, entrypoint, payload, headers, execute_after, dedupe_key) "
    "FROM STDIN (FORMAT BINARY)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class ProducerStatements:
    enqueue: dict[OnDuplicate, bytes]
    """A batch of jobs, per dedupe policy."""
    enqueue_one: dict[OnDuplicate, bytes]
    """One job, per dedupe policy."""
    copy_jobs: bytes


@functools.lru_cache(maxsize=64)
def producer_statements(names: ObjectNames) -> ProducerStatements:
    render = Renderer(names)
    return ProducerStatements(
        enqueue={policy: render(INSERT + MANY_ROWS + end) for policy, end in ENDINGS.items()},
        enqueue_one={policy: render(INSERT + ONE_ROW + end) for policy, end in ENDINGS.items()},
        copy_jobs=render(COPY_JOBS),
    )
