"""Opening connections: one place that names them, sets them up and explains failures."""

from __future__ import annotations

from typing import Any

import psycopg

from pgqtop.config import Settings, describe_dsn, redact
from pgqtop.errors import ConnectionFailed, connection_error_line

CONNECT_TIMEOUT = 10


def connect_kwargs(settings: Settings, purpose: str) -> dict[str, Any]:
    """Connection options shared by every connection pgqtop opens."""
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "application_name": f"pgqtop {purpose}"[:63],
        "connect_timeout": CONNECT_TIMEOUT,
    }
    if settings.read_only:
        # The database enforces it, so even a bug in the console cannot write.
        kwargs["options"] = "-c default_transaction_read_only=on"
    return kwargs


def _failure(settings: Settings, exc: BaseException) -> ConnectionFailed:
    where = describe_dsn(settings.dsn)
    return ConnectionFailed(redact(connection_error_line(exc, where), settings.dsn))


async def connect_async(settings: Settings, purpose: str) -> psycopg.AsyncConnection[Any]:
    """An autocommit async connection, or ConnectionFailed with a one-line reason."""
    try:
        return await psycopg.AsyncConnection.connect(
            settings.dsn, **connect_kwargs(settings, purpose)
        )
    except (psycopg.Error, OSError) as exc:
        raise _failure(settings, exc) from None


def connect_sync(settings: Settings, purpose: str) -> psycopg.Connection[Any]:
    """The sync twin of connect_async, for admin commands and sync producers."""
    try:
        return psycopg.Connection.connect(settings.dsn, **connect_kwargs(settings, purpose))
    except (psycopg.Error, OSError) as exc:
        raise _failure(settings, exc) from None
