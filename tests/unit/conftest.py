"""Unit tests: pure logic, no database, no network, no subprocess; each runs in milliseconds.

Nothing here may ask for the database fixtures; the check below makes that a collection error
rather than a slow test that quietly waits for a server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
DATABASE_FIXTURES = {"dsn", "names", "settings", "sync_conn", "aconn", "queries", "cluster"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE not in item.path.parents:
            continue
        wanted = DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        if wanted:
            raise pytest.UsageError(
                f"{item.nodeid} is a unit test but asks for {sorted(wanted)}: move it out of "
                "tests/unit"
            )
