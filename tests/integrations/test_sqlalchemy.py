"""SQLAlchemy 2 with the psycopg driver: enqueue on the session's connection, sync and async,
inside the session's transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from pgqtop import Queries, SyncQueries
from pgqtop.config import Settings
from tests.integrations.conftest import Boom

sqlalchemy = pytest.importorskip("sqlalchemy", reason="SQLAlchemy is in the test extra")
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402


def test_sync_session_commit_keeps_the_job_and_rollback_drops_it(
    settings: Settings, jobs_seen: Callable[[str], int]
) -> None:
    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(settings.dsn)
    )
    try:
        with Session(engine) as session:
            with session.begin():
                session.execute(text("SELECT 1"))
                SyncQueries.from_connection(session, settings.names).enqueue("welcome", "ana")
                assert jobs_seen("welcome") == 0
            assert jobs_seen("welcome") == 1

            with pytest.raises(Boom), session.begin():
                SyncQueries.from_connection(session, settings.names).enqueue("welcome", "bo")
                raise Boom
            assert jobs_seen("welcome") == 1

        with engine.connect() as conn:  # a Core connection works the same way
            with conn.begin():
                SyncQueries.from_connection(conn, settings.names).enqueue("welcome", "cy")
            assert jobs_seen("welcome") == 2
    finally:
        engine.dispose()


async def test_async_session_commit_keeps_the_job_and_rollback_drops_it(
    settings: Settings, jobs_seen: Callable[[str], int]
) -> None:
    async def connect() -> Any:
        return await psycopg.AsyncConnection.connect(settings.dsn)

    engine = create_async_engine("postgresql+psycopg://", async_creator=connect)
    try:
        async with AsyncSession(engine) as session:
            async with session.begin():
                await session.execute(text("SELECT 1"))
                queries = await Queries.from_connection(session, settings.names)
                await queries.enqueue("welcome", "ana")
                assert jobs_seen("welcome") == 0
            assert jobs_seen("welcome") == 1

            with pytest.raises(Boom):
                async with session.begin():
                    queries = await Queries.from_connection(session, settings.names)
                    await queries.enqueue("welcome", "bo")
                    raise Boom
            assert jobs_seen("welcome") == 1
    finally:
        await engine.dispose()
