"""Read-only that cannot be silently lost.

A read-only session asks the server for it at startup (`options=-c
default_transaction_read_only=on`). A pooler may refuse that startup option, or be told to
ignore it, and then the session quietly accepts writes. After connecting we therefore ask the
server: when `transaction_read_only` is off, the connection wraps every statement outside a
transaction in a `BEGIN READ ONLY ... COMMIT` of its own. That costs two round trips per
statement, only where the startup option was lost, and holds through a transaction-mode pooler
too (the transaction is the pooler's unit).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import pq
from psycopg.abc import Params
from psycopg.rows import Row

READ_ONLY_OPTION = "-c default_transaction_read_only=on"


class ReadOnlyAsyncCursor(psycopg.AsyncCursor[Row]):
    """Runs each statement in a read-only transaction unless one is already open."""

    async def execute(
        self,
        query: Any,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> ReadOnlyAsyncCursor[Row]:
        if self.connection.info.transaction_status != pq.TransactionStatus.IDLE:
            await super().execute(query, params, prepare=prepare, binary=binary)
            return self
        async with self.connection.transaction():
            await super().execute(query, params, prepare=prepare, binary=binary)
        return self

    async def executemany(
        self, query: Any, params_seq: Iterable[Params], *, returning: bool = False
    ) -> None:
        async with self.connection.transaction():
            await super().executemany(query, params_seq, returning=returning)


class ReadOnlyCursor(psycopg.Cursor[Row]):
    """The sync twin of ReadOnlyAsyncCursor."""

    def execute(
        self,
        query: Any,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> ReadOnlyCursor[Row]:
        if self.connection.info.transaction_status != pq.TransactionStatus.IDLE:
            super().execute(query, params, prepare=prepare, binary=binary)
            return self
        with self.connection.transaction():
            super().execute(query, params, prepare=prepare, binary=binary)
        return self

    def executemany(
        self, query: Any, params_seq: Iterable[Params], *, returning: bool = False
    ) -> None:
        with self.connection.transaction():
            super().executemany(query, params_seq, returning=returning)


_CHECK = "SELECT current_setting('transaction_read_only')"


async def enforce_read_only_async(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Make `conn` read-only whatever became of the startup option; True when the server
    session itself was not (each statement then runs in a read-only transaction)."""
    cur = await conn.execute(_CHECK)
    row = await cur.fetchone()
    if row is not None and row[0] == "on":
        return False
    await conn.set_read_only(True)
    conn.cursor_factory = ReadOnlyAsyncCursor
    return True


def enforce_read_only(conn: psycopg.Connection[Any]) -> bool:
    """The sync twin of enforce_read_only_async."""
    row = conn.execute(_CHECK).fetchone()
    if row is not None and row[0] == "on":
        return False
    conn.read_only = True
    conn.cursor_factory = ReadOnlyCursor
    return True
