"""Opening connections: one place that names them, sets them up and explains failures."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from pgqtop.config import Settings, describe_dsn
from pgqtop.db.readonly import READ_ONLY_OPTION, enforce_read_only, enforce_read_only_async
from pgqtop.errors import ConnectionFailed
from pgqtop.model import first_line, redact

CONNECT_TIMEOUT = 10
_UNREACHABLE = re.compile(
    r'connection to server at "([^"]*)"(?: \([^)]*\))?, port (\d+) failed:(.*)'
)
"""libpq's words for an attempt that reached no PostgreSQL server at host:port."""

PREPARE_THRESHOLD = 5
"""psycopg's own default: a statement is prepared on its sixth run."""


def connect_kwargs(settings: Settings, purpose: str, *, prepared: bool = False) -> dict[str, Any]:
    """Connection options shared by every connection pgqtop opens; `prepared` lets psycopg
    prepare a statement run often (a worker's hot path on a direct connection)."""
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "application_name": f"pgqtop {purpose}"[:63],
        "connect_timeout": CONNECT_TIMEOUT,
        # Server-side prepared statements only where asked for: behind a transaction-mode
        # pooler consecutive statements land on different server sessions, where a prepared
        # name is unknown or already taken.
        "prepare_threshold": PREPARE_THRESHOLD if prepared else None,
    }
    if settings.read_only:
        # The database enforces it, so even a bug in the console cannot write.
        # A pooler may drop it: connect_async/connect_sync check and enforce it themselves.
        kwargs["options"] = READ_ONLY_OPTION
    return kwargs


def connection_error_line(exc: BaseException, where: str) -> str:
    """One readable line for a failed connection attempt (redact it before showing it)."""
    first = first_line(exc)
    lowered = first.lower()
    if "password authentication failed" in lowered:
        reason = "wrong user name or password"
    elif "does not exist" in lowered and "database" in lowered:
        reason = first.split("FATAL:")[-1].strip()
    elif "connection refused" in lowered or "could not connect" in lowered:
        reason = "connection refused (is PostgreSQL running there?)"
    elif "could not translate host name" in lowered or "name or service not known" in lowered:
        reason = "unknown host name"
    elif isinstance(exc, UnicodeError) or "idna" in lowered:
        reason = f"invalid host name ({first})"
    elif "timeout" in lowered:
        reason = "connection timed out"
    elif (server := _UNREACHABLE.search(first)) is not None:
        # The address answered with something that is not PostgreSQL, or not at all: the
        # connection string was fine, the server cannot be reached there.
        host, port, detail = server.groups()
        reason = f"{host}:{port} is unreachable ({detail.strip() or 'no answer'})"
    elif isinstance(exc, psycopg.ProgrammingError) or "invalid" in lowered:
        reason = f"malformed connection string ({first})"
    else:
        reason = first.split("FATAL:")[-1].strip() or type(exc).__name__
    return f"cannot connect to {where}: {reason}"


def _failure(settings: Settings, exc: BaseException) -> ConnectionFailed:
    where = describe_dsn(settings.dsn)
    return ConnectionFailed(redact(connection_error_line(exc, where), settings.dsn))


async def connect_async(
    settings: Settings, purpose: str, *, prepared: bool = False
) -> psycopg.AsyncConnection[Any]:
    """An autocommit async connection, or ConnectionFailed with a one-line reason."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            settings.dsn, **connect_kwargs(settings, purpose, prepared=prepared)
        )
    except (psycopg.Error, OSError, ValueError) as exc:  # ValueError: a host idna refuses
        raise _failure(settings, exc) from None
    if settings.read_only:
        try:
            await enforce_read_only_async(conn)
        except psycopg.Error as exc:
            await conn.close()
            raise _failure(settings, exc) from None
    return conn


def connect_sync(settings: Settings, purpose: str) -> psycopg.Connection[Any]:
    """The sync twin of connect_async, for admin commands and sync producers."""
    try:
        conn = psycopg.Connection.connect(settings.dsn, **connect_kwargs(settings, purpose))
    except (psycopg.Error, OSError, ValueError) as exc:
        raise _failure(settings, exc) from None
    if settings.read_only:
        try:
            enforce_read_only(conn)
        except psycopg.Error as exc:
            conn.close()
            raise _failure(settings, exc) from None
    return conn
