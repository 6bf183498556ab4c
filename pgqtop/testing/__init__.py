"""pgqtop's testing kit: a pytest plugin that gives each test its own queue, and a drain that
runs your handlers on it and tells how every job went.

Enable it in your conftest.py (it is not loaded for everyone who installs pgqtop):

    pytest_plugins = ["pgqtop.testing"]

Fixtures: `pgqtop_dsn` (session: $PGQTOP_TEST_DSN, else $PGQTOP_DSN, else $DATABASE_URL, else
an embedded PostgreSQL), `pgqtop_settings` (a fresh prefix with the schema installed, dropped
after the test) and `pgqtop_queue` (a Harness on it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgqtop.config import Settings
from pgqtop.testing.database import configured_dsn, database_for_tests, isolated_queue
from pgqtop.testing.harness import Factory, Harness, RecordingManager
from pgqtop.testing.report import Attempt, DrainResult, JobReport

__all__ = [
    "Attempt",
    "DrainResult",
    "Factory",
    "Harness",
    "JobReport",
    "RecordingManager",
    "configured_dsn",
    "database_for_tests",
    "isolated_queue",
    "pgqtop_dsn",
    "pgqtop_queue",
    "pgqtop_settings",
]


@pytest.fixture(scope="session")
def pgqtop_dsn() -> Iterator[str]:
    """The test database's DSN for the whole session (an embedded server when none is set)."""
    with database_for_tests() as dsn:
        yield dsn


@pytest.fixture
def pgqtop_settings(pgqtop_dsn: str) -> Iterator[Settings]:
    """Settings of a queue of this test's own: a fresh prefix, dropped afterwards."""
    with isolated_queue(pgqtop_dsn) as settings:
        yield settings


@pytest.fixture
def pgqtop_queue(pgqtop_settings: Settings) -> Iterator[Harness]:
    """Enqueue and drain on this test's queue (see Harness)."""
    harness = Harness(pgqtop_settings)
    yield harness
    harness.close()
