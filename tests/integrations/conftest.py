"""Helpers for the transaction tests: how many jobs another session can see."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqtop.config import Settings


def visible_jobs(settings: Settings, entrypoint: str) -> int:
    """Jobs of `entrypoint` that a separate connection sees: only committed ones."""
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {} WHERE entrypoint = %s").format(
            sql.Identifier(settings.names.jobs)
        )
        row: Any = conn.execute(query, [entrypoint]).fetchone()
    return int(row[0])


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


@pytest.fixture
def jobs_seen(settings: Settings) -> Any:
    return lambda entrypoint: visible_jobs(settings, entrypoint)
