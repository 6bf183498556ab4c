"""Fixtures: a real PostgreSQL, and an isolated set of pgqtop objects for every test.

Isolation is by prefix: each test installs its own tables, type, trigger and channel under a
fresh random prefix in the shared test database, and drops them afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames, Settings
from pgqtop.db import schema
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.engine.logs import ROOT_LOGGER
from pgqtop.server import LOCAL_TEST_DSN, embedded_server, port_answers

# The testing kit's fixtures (pgqtop_queue, ...), as an application's suite enables them.
pytest_plugins = ["pgqtop.testing"]


@pytest.fixture(autouse=True)
def pgqtop_logs_reach_caplog() -> Iterator[None]:
    """`pgqtop --headless` run in-process (cli.main) points the pgqtop logger at the stderr of
    its day and stops propagation; undo that so caplog sees what the engine logs."""
    logger = logging.getLogger(ROOT_LOGGER)
    saved = (list(logger.handlers), logger.propagate, logger.level)
    for handler in saved[0]:
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@pytest.fixture(scope="session")
def dsn() -> Iterator[str]:
    """PGQTOP_TEST_DSN when set; else the local server on 5432; else an embedded one.

    PGQTOP_TEST_EMBEDDED=1 skips the 5432 check, to prove the embedded path on a machine
    that has a local server.

    Every xdist worker runs this once. The embedded server is shared by data directory: the
    first worker starts it under the package's inter-process lock, the others join it, and
    the last one to finish stops it (pgqtop.server); each test's own prefix keeps them apart.
    """
    given = os.environ.get("PGQTOP_TEST_DSN")
    if given:
        yield given
        return
    if os.environ.get("PGQTOP_TEST_EMBEDDED") != "1" and port_answers("127.0.0.1", 5432):
        yield LOCAL_TEST_DSN
        return
    with contextlib.ExitStack() as stack:
        yield stack.enter_context(embedded_server())


@pytest.fixture(scope="session")
def pgqtop_dsn(dsn: str) -> str:
    """The testing kit uses the suite's database (which also tries 127.0.0.1:5432)."""
    return dsn


@pytest.fixture(scope="session")
def pgbouncer_dsn(dsn: str) -> Iterator[str]:
    """The suite's database through a PgBouncer of its own in transaction pooling mode (pool
    size 20), started once per test process and stopped at its end; the tests that use it skip,
    saying why, where PgBouncer is not installed."""
    from tests.pooler import pgbouncer, pgbouncer_binary

    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (.ci/run installs it: apt-get install pgbouncer)")
    with pgbouncer(dsn) as bouncer:
        yield bouncer.dsn


@pytest.fixture
def names(dsn: str) -> Iterator[ObjectNames]:
    names = ObjectNames(f"t{uuid.uuid4().hex[:12]}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.install(conn, names)
    yield names
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.uninstall(conn, names)


@pytest.fixture
def settings(dsn: str, names: ObjectNames) -> Settings:
    return Settings(dsn=dsn, names=names)


@pytest.fixture
def sync_conn(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def aconn(dsn: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def queries(aconn: psycopg.AsyncConnection[Any], names: ObjectNames) -> ConsoleQueries:
    """A console's queries (which also enqueue) on the test's connection."""
    return ConsoleQueries(aconn, names)


@pytest.fixture
async def worker_queries(aconn: psycopg.AsyncConnection[Any], names: ObjectNames) -> WorkerQueries:
    """A worker's queries (take, finish, beat) on the same connection as `queries`."""
    return WorkerQueries(aconn, names)
