"""Enqueue on a connection the application already holds, inside its transaction: the job
exists only if that transaction commits.

A framework hands out its own wrapper around the psycopg connection; these functions find the
psycopg connection inside, by what the wrapper offers (no framework is imported):
Django's `django.db.connection`, SQLAlchemy 2's Session, Connection, AsyncSession and
AsyncConnection (with the psycopg driver), or a psycopg connection itself.
"""

from __future__ import annotations

import inspect
from typing import Any

import psycopg

from pgqtop.errors import UsageError

_DEPTH = 5
"""Wrappers inside wrappers followed at most (Session -> Connection -> pool proxy -> driver)."""


def _refuse(given: object, wanted: str) -> UsageError:
    return UsageError(
        f"cannot enqueue through a {type(given).__module__}.{type(given).__qualname__}: "
        f"expected {wanted}, or a Django or SQLAlchemy connection using psycopg 3"
    )


def sync_connection_of(given: object) -> psycopg.Connection[Any]:
    """The psycopg connection behind `given`, which may be one already."""
    current: Any = given
    for _ in range(_DEPTH):
        if isinstance(current, psycopg.Connection):
            return current
        if isinstance(current, psycopg.AsyncConnection):
            raise UsageError("an async connection: use `await Queries.from_connection(...)`")
        current = _unwrap_sync(current)
        if current is None:
            break
    raise _refuse(given, "a psycopg.Connection")


def _unwrap_sync(wrapper: Any) -> Any:
    ensure = getattr(wrapper, "ensure_connection", None)
    if callable(ensure):  # Django's DatabaseWrapper connects lazily
        ensure()
        return getattr(wrapper, "connection", None)
    driver = getattr(wrapper, "driver_connection", None)  # SQLAlchemy's pool proxy
    if driver is not None:
        return driver
    inner = getattr(wrapper, "connection", None)
    if callable(inner):  # SQLAlchemy's Session.connection(): joins its transaction
        inner = inner()
    return inner


async def async_connection_of(given: object) -> psycopg.AsyncConnection[Any]:
    """The psycopg async connection behind `given`, which may be one already."""
    current: Any = given
    for _ in range(_DEPTH):
        if isinstance(current, psycopg.AsyncConnection):
            return current
        if isinstance(current, psycopg.Connection):
            raise UsageError("a sync connection: use `SyncQueries.from_connection(...)`")
        current = await _unwrap_async(current)
        if current is None:
            break
    raise _refuse(given, "a psycopg.AsyncConnection")


async def _unwrap_async(wrapper: Any) -> Any:
    raw = getattr(wrapper, "get_raw_connection", None)
    if callable(raw):  # SQLAlchemy's AsyncConnection
        return await raw()
    driver = getattr(wrapper, "driver_connection", None)
    if driver is not None:
        return driver
    inner = getattr(wrapper, "connection", None)
    if callable(inner):  # SQLAlchemy's AsyncSession.connection() is a coroutine
        inner = inner()
        if inspect.isawaitable(inner):
            inner = await inner
    return inner
