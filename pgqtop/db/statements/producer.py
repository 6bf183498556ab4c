"""What a producer runs: one call of the enqueue function per batch (arrays, or plain values
for a single job), under one of three dedupe policies, and a binary COPY for bulk loads.

The functions (pgqtop.db.schema) do the INSERT as their owner, so a producer role needs no
privilege on the jobs table but INSERT of these columns for COPY.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.statements import Renderer

ENQUEUE: LiteralString = (
    "SELECT * FROM {enqueue}(%(priorities)b::int[], %(entrypoints)b::text[], "
    "%(payloads)b::bytea[], %(headers)b::jsonb[], %(delays)b::float8[], %(keys)b::text[], "
    "%(policy)s::text)"
)
# One job (the common call from a web request) as plain values: a fifth less time per call
# than six one-element arrays through unnest.
ENQUEUE_ONE: LiteralString = (
    "SELECT * FROM {enqueue_one}(%(priorities)s::int, %(entrypoints)s::text, "
    "%(payloads)s::bytea, %(headers)s::jsonb, %(delays)s::float8, %(keys)s::text, "
    "%(policy)s::text)"
)
COPY_JOBS: LiteralString = (
    "COPY {jobs} (priority, entrypoint, payload, headers, execute_after, dedupe_key) "
    "FROM STDIN (FORMAT BINARY)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class ProducerStatements:
    enqueue: bytes
    """A batch of jobs; the dedupe policy is a parameter."""
    enqueue_one: bytes
    """One job; the dedupe policy is a parameter."""
    copy_jobs: bytes


@functools.lru_cache(maxsize=64)
def producer_statements(names: ObjectNames) -> ProducerStatements:
    render = Renderer(names)
    return ProducerStatements(
        enqueue=render(ENQUEUE), enqueue_one=render(ENQUEUE_ONE), copy_jobs=render(COPY_JOBS)
    )
