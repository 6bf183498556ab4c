"""Where a test's queue lives: a DSN from the environment (else an embedded PostgreSQL), and a
fresh prefix per test with pgqtop's schema installed, dropped afterwards."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator

from pgqtop.config import ObjectNames, Settings
from pgqtop.db import schema
from pgqtop.db.connection import connect_sync

DSN_VARIABLES = ("PGQTOP_TEST_DSN", "PGQTOP_DSN", "DATABASE_URL")
"""Where a test database is looked for, in this order."""


def configured_dsn() -> str | None:
    """The first of $PGQTOP_TEST_DSN, $PGQTOP_DSN, $DATABASE_URL that is set."""
    for variable in DSN_VARIABLES:
        value = os.environ.get(variable)
        if value:
            return value
    return None


@contextlib.contextmanager
def database_for_tests() -> Iterator[str]:
    """A DSN for tests: the configured one, else an embedded PostgreSQL kept for as long as
    this block (shared with other processes that use the same data directory)."""
    given = configured_dsn()
    if given:
        yield given
        return
    from pgqtop.server import embedded_server

    with embedded_server() as dsn:
        yield dsn


def fast_settings(dsn: str, names: ObjectNames) -> Settings:
    """Settings for a queue under test: short timers, no history sampling."""
    settings = Settings(dsn=dsn, names=names)
    settings.engine = dataclasses.replace(
        settings.engine, dequeue_timeout=1.0, shutdown_grace=5.0, flush_interval=0.002
    )
    settings.history_interval = 0.0
    return settings


@contextlib.contextmanager
def isolated_queue(dsn: str) -> Iterator[Settings]:
    """pgqtop's tables under a fresh random prefix for one test, dropped afterwards: tests
    running side by side (pytest-xdist) never see each other's jobs."""
    names = ObjectNames(f"t{uuid.uuid4().hex[:12]}")
    settings = fast_settings(dsn, names)
    with connect_sync(settings, "test setup") as conn:
        schema.install(conn, names)
    try:
        yield settings
    finally:
        with connect_sync(settings, "test teardown") as conn:
            schema.uninstall(conn, names)
