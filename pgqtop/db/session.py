"""What every async role's queries stand on: one autocommit connection, the prefix its
statements were rendered for, and the few ways a statement's rows come back."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import BaseRowFactory

from pgqtop.config import ObjectNames
from pgqtop.db import rows
from pgqtop.db.rows import PauseInfo, ScheduleInfo
from pgqtop.db.statements.shared import shared_statements

R = TypeVar("R")
Params = Mapping[str, Any]


_PIPELINE_LOCKS: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def pipeline_lock(conn: psycopg.AsyncConnection[Any]) -> asyncio.Lock:
    """One pipeline block at a time per connection, and a lone statement waits for a running
    block to end: two tasks' blocks would end each other's pipeline mode, and a statement of
    another task fetched inside a block would sync it early from under its owner."""
    lock = _PIPELINE_LOCKS.get(conn)
    if lock is None:
        lock = _PIPELINE_LOCKS[conn] = asyncio.Lock()
    return lock


class AsyncSession:
    """Statements of one prefix run on one async autocommit connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], names: ObjectNames | None) -> None:
        self.conn = conn
        self.names = names or ObjectNames()

    async def _tuples(self, statement: bytes, params: Params) -> list[tuple[Any, ...]]:
        async with pipeline_lock(self.conn):
            cur = await self.conn.execute(statement, params)
            found: list[tuple[Any, ...]] = await cur.fetchall()
        return found

    async def _tuple(self, statement: bytes, params: Params) -> tuple[Any, ...]:
        """The one row a statement always returns (a count, an aggregate)."""
        async with pipeline_lock(self.conn):
            cur = await self.conn.execute(statement, params)
            row: tuple[Any, ...] | None = await cur.fetchone()
        assert row is not None
        return row

    async def _built(self, statement: bytes, params: Params, shape: BaseRowFactory[R]) -> list[R]:
        """Every row, each built by a row factory from the column names."""
        async with pipeline_lock(self.conn), self.conn.cursor(row_factory=shape) as cur:
            await cur.execute(statement, params)
            return await cur.fetchall()

    async def _pipelined(
        self, reads: Sequence[tuple[bytes, Params, BaseRowFactory[Any]]]
    ) -> list[list[Any]]:
        """Several reads in one round trip: sent in pipeline mode and read after its one sync
        (a fetch inside the block would sync early). Each read's rows, in order."""
        cursors = []
        async with pipeline_lock(self.conn), self.conn.pipeline():
            for statement, params, shape in reads:
                cur = self.conn.cursor(row_factory=shape)
                await cur.execute(statement, params)
                cursors.append(cur)
        found = []
        for cur in cursors:
            found.append(await cur.fetchall())
            await cur.close()
        return found


class FleetReads(AsyncSession):
    """The reads a worker and a console both need: the pauses in force (a worker logs them
    and wakes when a timed one ends; a console shows them), the schedules, and whether the
    server is a hot standby."""

    async def in_recovery(self) -> bool:
        """True on a hot standby: read-only, and LISTEN is refused there."""
        row = await self._tuple(shared_statements(self.names).in_recovery, {})
        return bool(row[0])

    async def paused(self) -> list[PauseInfo]:
        return await self._built(shared_statements(self.names).paused, {}, rows.PAUSE_INFO)

    async def schedules(self, entrypoints: Sequence[str] | None = None) -> list[ScheduleInfo]:
        params = {"entrypoints": list(entrypoints) if entrypoints is not None else None}
        statement = shared_statements(self.names).schedules
        return await self._built(statement, params, rows.SCHEDULE_INFO)
