"""Helpers every short-lived command shares: settings, sessions, prompts, durations, output."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import enum
import json
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import psycopg

from pgqtop.config import Settings, describe_dsn
from pgqtop.db import schema
from pgqtop.db.connection import connect_async, connect_sync
from pgqtop.db.console import ConsoleQueries
from pgqtop.errors import PgqtopError, UsageError
from pgqtop.humanize import format_time as format_time  # the commands call it from here
from pgqtop.model import first_line, printable


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings for a command: --dsn/--prefix, else the environment, else the defaults."""
    return Settings.create(getattr(args, "dsn", None), getattr(args, "prefix", None))


class DatabaseRefused(PgqtopError):
    """The database rejected a statement (permissions, constraints, a lost connection)."""


@contextlib.contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """Turn a driver error into one password-free line instead of a traceback."""
    try:
        yield
    except psycopg.Error as exc:
        raise DatabaseRefused(
            f"database refused the request: {first_line(exc, settings.dsn)}"
        ) from None


@contextlib.contextmanager
def sync_connection(settings: Settings, purpose: str) -> Iterator[psycopg.Connection[Any]]:
    """A sync connection for schema work; closed on exit, failures as one line."""
    conn = connect_sync(settings, purpose)
    try:
        with database_errors(settings):
            yield conn
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def session(settings: Settings, purpose: str) -> AsyncIterator[ConsoleQueries]:
    """Queries on a fresh connection, after checking the schema is installed and current."""
    conn = await connect_async(settings, purpose)
    try:
        with database_errors(settings):
            await schema.require_current_async(conn, settings.names)
            yield ConsoleQueries(conn, settings.names, settings.max_payload_bytes)
    finally:
        await conn.close()


def where(settings: Settings) -> str:
    """The database and prefix a command acted on, for its closing line (no password)."""
    return f"{describe_dsn(settings.dsn) or 'libpq defaults'} (prefix {settings.names.prefix})"


def say(message: str) -> None:
    """One line of human-readable output on stdout. Every message that quotes text from the
    database or the command line goes out through here (or print_table), escaped."""
    print(printable(message))


def warn(message: str) -> None:
    """One warning line on stderr, escaped like say()."""
    print(f"pgqtop: warning: {printable(message)}", file=sys.stderr)


def confirm(question: str, assume_yes: bool) -> bool:
    """Ask y/N on the terminal; without one, refuse rather than guess."""
    if assume_yes:
        return True
    if not sys.stdin or not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: refusing without --yes (no terminal to ask on)")
    try:
        answer = input(f"{printable(question)} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
MAX_DURATION_SECONDS = 10 * 366 * 86400.0
"""Ten years: a longer pause is one until resumed."""
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in `90s`, `15m`, `2h`, `1h30m`, `1d` or a bare number of seconds."""
    cleaned = text.strip().lower()
    try:
        seconds = float(cleaned)
    except ValueError:
        seconds = -1.0
        position = 0
        total = 0.0
        for match in _DURATION_PART.finditer(cleaned):
            if match.start() != position:
                break
            total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            position = match.end()
        else:
            if position == len(cleaned) and position > 0:
                seconds = total
    if not seconds > 0 or seconds == float("inf"):
        raise UsageError(
            f"malformed duration {text!r}: use a positive amount like 90s, 15m, 2h or 1h30m"
        )
    if seconds > MAX_DURATION_SECONDS:
        raise UsageError(
            f"duration {text!r} is longer than ten years: leave --for out to pause until resumed"
        )
    return seconds


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Left-aligned text columns, numbers right-aligned, sized to their content. Every cell is
    escaped (printable), so a value cannot break the table or act on the terminal."""
    cells = [[printable(str(c)) for c in row] for row in rows]
    headers = [printable(h) for h in headers]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(isinstance(row[i], int | float) for row in rows) and bool(rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(line(list(headers)))
    for row in cells:
        print(line(row))


def _json_default(value: object) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | enum.Enum):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def print_json(data: object) -> None:
    print(json.dumps(data, default=_json_default, indent=2, sort_keys=True))
