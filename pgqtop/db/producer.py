"""The producer's side: add jobs, one statement per batch, from async or sync code.

`Queries` and `SyncQueries` are what an application imports; they can enqueue and nothing
else, so a producer holding one cannot take or finish jobs by mistake.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, Self

import psycopg
from psycopg.types.json import Jsonb

from pgqtop.config import ObjectNames
from pgqtop.db.borrowed import async_connection_of, sync_connection_of
from pgqtop.db.session import AsyncSession
from pgqtop.db.statements.producer import producer_statements
from pgqtop.errors import InvalidJob
from pgqtop.model import (
    DuplicateJob,
    JobColumns,
    NewJob,
    OnDuplicate,
    PayloadLike,
    as_new_jobs,
    check_new_jobs,
    dedupe_within_batch,
)

DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
_COPY_CHUNK = 5000
_DUPLICATE = "a job with this dedupe key is already queued or running"


def _jsonb(text: str | None) -> Jsonb | None:
    """Headers already serialised (and checked) by the model, sent as they are."""
    return None if text is None else Jsonb(text, dumps=str)


def statement_params(columns: JobColumns) -> dict[str, Any]:
    """The enqueue statement's column arrays."""
    return {
        "priorities": columns.priorities,
        "entrypoints": columns.entrypoints,
        "payloads": columns.payloads,
        "headers": [_jsonb(h) for h in columns.headers],
        "delays": columns.delays,
        "keys": columns.keys,
    }


class EnqueueStatements(Protocol):
    """The enqueue calls of a batch and of one job, the dedupe policy a parameter of both."""

    @property
    def enqueue(self) -> bytes: ...

    @property
    def enqueue_one(self) -> bytes: ...


def dedupe_policy(value: str) -> OnDuplicate:
    """The policy given, as an OnDuplicate (its text value is accepted too)."""
    try:
        return OnDuplicate(value)
    except ValueError:
        choices = ", ".join(p.value for p in OnDuplicate)
        raise InvalidJob("on_duplicate", f"must be one of {choices}, not {value!r}") from None


def enqueue_call(
    statements: EnqueueStatements,
    jobs: Sequence[NewJob],
    on_duplicate: OnDuplicate,
    max_payload_bytes: int,
) -> tuple[bytes, dict[str, Any]]:
    """The enqueue call and its parameters: plain values for one job, arrays for more.
    Every job is checked first, so a refused batch sends nothing."""
    policy = dedupe_policy(on_duplicate)
    columns = dedupe_within_batch(check_new_jobs(jobs, max_payload_bytes), policy)
    return checked_call(statements, columns, policy)


def checked_call(
    statements: EnqueueStatements, columns: JobColumns, policy: OnDuplicate
) -> tuple[bytes, dict[str, Any]]:
    """The enqueue call for columns already checked and deduplicated (check_new_jobs,
    dedupe_within_batch): a load split into chunks is checked once, as a whole."""
    params = statement_params(columns)
    if len(columns) == 1:
        single: dict[str, Any] = {name: values[0] for name, values in params.items()}
        single["policy"] = policy.value
        return statements.enqueue_one, single
    params["policy"] = policy.value
    return statements.enqueue, params


class Queries(AsyncSession):
    """Enqueue on one async connection: autocommit (each enqueue is its own transaction), or
    inside the caller's transaction (`async with conn.transaction():`)."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        names: ObjectNames | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        super().__init__(conn, names)
        self.max_payload_bytes = max_payload_bytes
        self.producer_sql = producer_statements(self.names)

    @classmethod
    async def from_connection(
        cls,
        connection: object,
        names: ObjectNames | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> Self:
        """Enqueue on the application's own async connection, inside its transaction: a
        psycopg AsyncConnection, or SQLAlchemy's AsyncSession / AsyncConnection (psycopg
        driver). The jobs exist only if that transaction commits."""
        return cls(await async_connection_of(connection), names, max_payload_bytes)

    async def enqueue(
        self,
        entrypoint: str | Sequence[str],
        payload: PayloadLike | Sequence[PayloadLike] = None,
        priority: int | Sequence[int] = 0,
        *,
        headers: dict[str, Any] | Sequence[dict[str, Any] | None] | None = None,
        execute_after: float | Sequence[float] = 0.0,
        dedupe_key: str | Sequence[str | None] | None = None,
        on_duplicate: OnDuplicate = OnDuplicate.ERROR,
    ) -> list[int]:
        """Enqueue one job or parallel lists of jobs in one statement; returns the new ids."""
        jobs = as_new_jobs(entrypoint, payload, priority, headers, execute_after, dedupe_key)
        return await self.enqueue_jobs(jobs, on_duplicate=on_duplicate)

    async def enqueue_jobs(
        self, jobs: Sequence[NewJob], *, on_duplicate: OnDuplicate = OnDuplicate.ERROR
    ) -> list[int]:
        statement, params = enqueue_call(
            self.producer_sql, jobs, on_duplicate, self.max_payload_bytes
        )
        return await self._enqueue(statement, params)

    async def enqueue_checked(self, columns: JobColumns, on_duplicate: OnDuplicate) -> list[int]:
        """Enqueue columns already checked and deduplicated (one chunk of a load)."""
        statement, params = checked_call(self.producer_sql, columns, on_duplicate)
        return await self._enqueue(statement, params)

    async def _enqueue(self, statement: bytes, params: dict[str, Any]) -> list[int]:
        try:
            rows = await self._tuples(statement, params)
        except psycopg.errors.UniqueViolation:
            raise DuplicateJob(_DUPLICATE) from None
        return [r[0] for r in rows]

    async def enqueue_bulk(self, jobs: Iterable[NewJob]) -> int:
        """COPY many jobs in, in binary: the fastest path for large loads (no dedupe policy,
        no ids returned). Each chunk is checked before it is sent; one COPY is one
        statement, so a refused chunk leaves nothing written."""
        if isinstance(jobs, NewJob) or not isinstance(jobs, Iterable):
            raise InvalidJob("jobs", f"must be an iterable of NewJob, not {type(jobs).__name__}")
        count = 0
        async with self.conn.cursor() as cur, cur.copy(self.producer_sql.copy_jobs) as copy:
            copy.set_types(["int4", "text", "bytea", "jsonb", "timestamptz", "text"])
            iterator = iter(jobs)
            while chunk := list(itertools.islice(iterator, _COPY_CHUNK)):
                columns = check_new_jobs(
                    chunk, self.max_payload_bytes, first_index=count, indexed=True
                )
                now = dt.datetime.now(dt.UTC)
                for row in zip(
                    columns.priorities,
                    columns.entrypoints,
                    columns.payloads,
                    [_jsonb(h) for h in columns.headers],
                    [now + dt.timedelta(seconds=d) for d in columns.delays],
                    columns.keys,
                    strict=True,
                ):
                    await copy.write_row(row)
                count += len(chunk)
        return count


class SyncQueries:
    """Enqueue from sync code (web request handlers, scripts), on an autocommit connection or
    inside the caller's transaction."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        names: ObjectNames | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.conn = conn
        self.names = names or ObjectNames()
        self.max_payload_bytes = max_payload_bytes
        self.producer_sql = producer_statements(self.names)

    @classmethod
    def from_connection(
        cls,
        connection: object,
        names: ObjectNames | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> Self:
        """Enqueue on the application's own connection, inside its transaction: a psycopg
        Connection, Django's `django.db.connection`, or SQLAlchemy's Session / Connection
        (psycopg driver). The jobs exist only if that transaction commits."""
        return cls(sync_connection_of(connection), names, max_payload_bytes)

    def enqueue(
        self,
        entrypoint: str | Sequence[str],
        payload: PayloadLike | Sequence[PayloadLike] = None,
        priority: int | Sequence[int] = 0,
        *,
        headers: dict[str, Any] | Sequence[dict[str, Any] | None] | None = None,
        execute_after: float | Sequence[float] = 0.0,
        dedupe_key: str | Sequence[str | None] | None = None,
        on_duplicate: OnDuplicate = OnDuplicate.ERROR,
    ) -> list[int]:
        """Enqueue one job or parallel lists of jobs in one statement; returns the new ids."""
        jobs = as_new_jobs(entrypoint, payload, priority, headers, execute_after, dedupe_key)
        statement, params = enqueue_call(
            self.producer_sql, jobs, on_duplicate, self.max_payload_bytes
        )
        try:
            rows = self.conn.execute(statement, params).fetchall()
        except psycopg.errors.UniqueViolation:
            raise DuplicateJob(_DUPLICATE) from None
        return [r[0] for r in rows]
