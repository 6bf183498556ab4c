"""Fixtures for fault injection: a PostgreSQL the tests may restart, fresh objects on it, and
small helpers that run managers and wait for the database to reach a state."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqtop.config import EngineSettings, ObjectNames, Settings
from pgqtop.db import schema
from pgqtop.engine.manager import QueueManager
from tests.reliability.cluster import Cluster, throwaway_cluster
from tests.waiting import eventually

FAST_ENGINE = EngineSettings(
    batch_size=10,
    concurrency=10,
    dequeue_timeout=1.0,
    retry_timer=10.0,
    heartbeat_interval=1.0,
    flush_size=10,
    shutdown_grace=2.0,
)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """One restartable server for the whole session; tests that stop it start it again."""
    with throwaway_cluster() as server:
        yield server


@pytest.fixture
def cluster_names(cluster: Cluster) -> Iterator[ObjectNames]:
    if not cluster.running():
        cluster.start()
    names = ObjectNames(f"r{uuid.uuid4().hex[:12]}")
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        schema.install(conn, names)
    yield names
    if not cluster.running():
        cluster.start()
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        schema.uninstall(conn, names)


@pytest.fixture
def cluster_settings(cluster: Cluster, cluster_names: ObjectNames) -> Settings:
    return Settings(dsn=cluster.dsn, names=cluster_names, engine=dataclasses.replace(FAST_ENGINE))


def fast_settings(dsn: str, names: ObjectNames, **engine: Any) -> Settings:
    return Settings(dsn=dsn, names=names, engine=dataclasses.replace(FAST_ENGINE, **engine))


def sq(text: str, names: ObjectNames) -> sql.Composed:
    """A test query over our tables: `{jobs}`, `{statistics}`, `{failures}`, `{workers}`."""
    return sql.SQL(text).format(
        jobs=sql.Identifier(names.jobs),
        statistics=sql.Identifier(names.statistics),
        failures=sql.Identifier(names.failures),
        workers=sql.Identifier(names.workers),
    )


def scalar(dsn: str, query: sql.Composed | str, params: Sequence[Any] = ()) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]


def remaining_jobs(dsn: str, names: ObjectNames) -> int:
    return int(scalar(dsn, sq("SELECT count(*) FROM {jobs}", names)))


def counted(dsn: str, names: ObjectNames, status: str | None = None) -> int:
    if status is None:
        query = sq("SELECT coalesce(sum(count), 0)::bigint FROM {statistics}", names)
        return int(scalar(dsn, query))
    query = sq(
        "SELECT coalesce(sum(count), 0)::bigint FROM {statistics} WHERE status::text = %s",
        names,
    )
    return int(scalar(dsn, query, (status,)))


@contextlib.asynccontextmanager
async def running(*managers: QueueManager) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run managers in the background; stop them (and surface their errors) on exit."""
    tasks = [asyncio.create_task(m.run(), name=f"manager {i}") for i, m in enumerate(managers)]
    try:
        await eventually(
            lambda: all(m.state != "starting" for m in managers) or any(t.done() for t in tasks),
            15,
            "managers to start",
        )
        for task in tasks:
            if task.done():
                task.result()
        yield tasks
    finally:
        await asyncio.gather(*(m.stop(grace=2) for m in managers), return_exceptions=True)
        done, pending = await asyncio.wait(tasks, timeout=20)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
