"""Errors a user can act on, each rendered as one clear line by the CLI."""

from __future__ import annotations

import psycopg


class PgqtopError(Exception):
    """Base of the errors the CLI prints as one line and exits non-zero on."""

    exit_code = 1


class ConfigError(PgqtopError):
    """Bad settings, a malformed file, an invalid name."""

    exit_code = 2


class UsageError(PgqtopError):
    """The command line asks for something that cannot be done."""

    exit_code = 2


class ConnectionFailed(PgqtopError):
    """The database could not be reached or refused us."""

    exit_code = 3


class SchemaMissing(PgqtopError):
    """pgqtop's tables are not installed (or not at this prefix)."""

    exit_code = 4


class SchemaOutdated(PgqtopError):
    """pgqtop's tables are from an older version and need `pgqtop upgrade`."""

    exit_code = 4


class PayloadTooLarge(PgqtopError):
    """A job payload exceeds the configured maximum."""

    exit_code = 2


def connection_error_line(exc: BaseException, where: str) -> str:
    """One readable line for a failed connection attempt, free of the password."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    lowered = first.lower()
    if "password authentication failed" in lowered:
        reason = "wrong user name or password"
    elif "does not exist" in lowered and "database" in lowered:
        reason = first.split("FATAL:")[-1].strip()
    elif "connection refused" in lowered or "could not connect" in lowered:
        reason = "connection refused (is PostgreSQL running there?)"
    elif "could not translate host name" in lowered or "name or service not known" in lowered:
        reason = "unknown host name"
    elif "timeout" in lowered:
        reason = "connection timed out"
    elif isinstance(exc, psycopg.ProgrammingError) or "invalid" in lowered:
        reason = f"malformed connection string ({first})"
    else:
        reason = first.split("FATAL:")[-1].strip() or type(exc).__name__
    return f"cannot connect to {where}: {reason}"
