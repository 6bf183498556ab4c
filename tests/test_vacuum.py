"""Where the server's autovacuum is off, workers vacuum the jobs table themselves."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import NewJob
from tests.waiting import eventually


async def _dead_rows(conn: psycopg.AsyncConnection[Any], names: ObjectNames) -> int:
    await conn.execute("SELECT pg_stat_force_next_flush()")
    cur = await conn.execute(
        "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = to_regclass(%s)",
        (sql.Identifier(names.jobs).as_string(None),),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_jobs_table_is_vacuumed_only_when_autovacuum_is_off(
    aconn: psycopg.AsyncConnection[Any],
    names: ObjectNames,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
) -> None:
    await queries.enqueue_bulk(NewJob("bloat") for _ in range(25_000))
    assert await queries.purge(["bloat"]) == 25_000
    await aconn.execute("SELECT 1")
    assert await _dead_rows(aconn, names) >= 25_000

    autovacuum = await (await aconn.execute("SHOW autovacuum")).fetchone()
    vacuumed = await worker_queries.vacuum_jobs_if_needed(min_dead=20_000)

    assert autovacuum is not None
    assert vacuumed == (autovacuum[0] == "off")
    if vacuumed:
        # A row deleted after another session's snapshot began (any test running in parallel
        # in this database) stays until that snapshot ends: vacuum again until it has.
        async def vacuumed_away() -> bool:
            if await _dead_rows(aconn, names) < 1_000:
                return True
            await worker_queries.vacuum_jobs_if_needed(min_dead=1_000)
            return False

        await eventually(vacuumed_away, 30, "the dead rows to be vacuumed away", step=0.2)


async def test_few_dead_rows_do_not_trigger_a_vacuum(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    await queries.enqueue(["small"] * 10)
    await queries.purge(["small"])
    assert await worker_queries.vacuum_jobs_if_needed(min_dead=20_000) is False
