"""Reads both a worker and a console run: the pauses in force, the schedules, and whether the
server is a hot standby (where LISTEN is refused)."""

from __future__ import annotations

import dataclasses
import functools
from typing import LiteralString

from pgqtop.config import ObjectNames
from pgqtop.db.statements import Renderer

PAUSED: LiteralString = (
    "SELECT entrypoint, paused_at, paused_until, paused_by, reason,"
    " extract(epoch FROM paused_until - now())::float8 AS remaining_seconds"
    " FROM {control} WHERE paused_until IS NULL OR paused_until > now()"
    " ORDER BY entrypoint"
)
SCHEDULES: LiteralString = (
    "SELECT entrypoint, expression, next_run, last_run,"
    " extract(epoch FROM next_run - now())::float8 AS due_in_seconds, now() AS read_at"
    " FROM {schedules}"
    " WHERE %(entrypoints)s::text[] IS NULL OR entrypoint = ANY(%(entrypoints)s::text[])"
    " ORDER BY next_run, entrypoint"
)

IN_RECOVERY: LiteralString = "SELECT pg_is_in_recovery()"


@dataclasses.dataclass(frozen=True, slots=True)
class SharedStatements:
    paused: bytes
    schedules: bytes
    in_recovery: bytes


@functools.lru_cache(maxsize=64)
def shared_statements(names: ObjectNames) -> SharedStatements:
    render = Renderer(names)
    return SharedStatements(
        paused=render(PAUSED), schedules=render(SCHEDULES), in_recovery=render(IN_RECOVERY)
    )
