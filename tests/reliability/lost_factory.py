"""Entrypoints that take their worker down with them, for `pgqtop --headless --factory`.

Each run first inserts a (job_id, attempt, pid) row into `<prefix>_runs` (see
recording_factory), so a test counts runs even of a handler that kills its process.

- `poison` (retry policy of 2 attempts) ends the process with os._exit, as a segfaulting
  extension or an out-of-memory kill would;
- `blocker` is an async handler that blocks the event loop for BLOCK_SECONDS with time.sleep.
"""

from __future__ import annotations

import os
import time

import psycopg

from pgqtop import Job, QueueManager
from tests.reliability.recording_factory import runs_table

BLOCK_SECONDS = 3.0


def register(qm: QueueManager) -> None:
    insert = psycopg.sql.SQL("INSERT INTO {} (job_id, attempt, pid) VALUES (%s, %s, %s)").format(
        runs_table(qm.settings.names)
    )

    def record(job: Job) -> None:
        with psycopg.connect(qm.settings.dsn, autocommit=True) as conn:
            conn.execute(insert, (job.id, job.attempts, os.getpid()))

    @qm.entrypoint("poison", retry=qm.retry(max_attempts=2, initial_delay=0.1))
    def poison(job: Job) -> None:
        record(job)
        os._exit(70)

    @qm.entrypoint("blocker")
    async def blocker(job: Job) -> None:
        record(job)
        # The mistake under test: blocking inside an async handler.
        time.sleep(BLOCK_SECONDS)  # noqa: ASYNC251
