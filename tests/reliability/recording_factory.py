"""Entrypoints for fault tests run by `pgqtop --headless --factory`.

Every run of a job inserts a (job_id, attempt, pid) row into `<prefix>_runs`, with no unique
constraint: a job that runs twice leaves two rows, which is how the tests count duplicates.
A run takes a few milliseconds, so a worker always has jobs in flight when it is killed.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import psycopg
from psycopg import sql

from pgqtop import Job, QueueManager
from pgqtop.config import ObjectNames

ENTRYPOINTS = ("ingest", "notify")


def runs_table(names: ObjectNames) -> sql.Identifier:
    return sql.Identifier(f"{names.prefix}_runs")


def create_runs_table(conn: psycopg.Connection[Any], names: ObjectNames) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (job_id bigint NOT NULL, attempt int NOT NULL,"
            " pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"
        ).format(runs_table(names))
    )


def register(qm: QueueManager) -> None:
    insert = sql.SQL("INSERT INTO {} (job_id, attempt, pid) VALUES (%s, %s, %s)").format(
        runs_table(qm.settings.names)
    )
    connection: list[psycopg.AsyncConnection[Any]] = []
    opening = asyncio.Lock()
    pid = os.getpid()

    async def record(job: Job) -> None:
        async with opening:
            if not connection or connection[0].closed:
                connection[:] = [
                    await psycopg.AsyncConnection.connect(qm.settings.dsn, autocommit=True)
                ]
        await connection[0].execute(insert, (job.id, job.attempts, pid))

    async def handle(job: Job) -> None:
        await asyncio.sleep(random.uniform(0.005, 0.03))
        await record(job)

    for name in ENTRYPOINTS:
        qm.entrypoint(name)(handle)
