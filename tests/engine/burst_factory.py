"""Entrypoints for the burst tests, loaded by `pgqtop --headless --burst --factory`.

`ok` succeeds; `boom` fails for good; `flaky` fails its first attempt and is retried at once
(due while the burst runs); `later` fails and is retried a minute later (left waiting);
`spawn` enqueues an `ok` job due now and another due in a minute.
"""

from __future__ import annotations

import psycopg

from pgqtop import Job, QueueManager, SyncQueries


def register(qm: QueueManager) -> None:
    settings = qm.settings

    @qm.entrypoint("ok")
    async def ok(job: Job) -> None:
        return None

    @qm.entrypoint("boom")
    async def boom(job: Job) -> None:
        raise ValueError(f"job {job.id} cannot be done")

    @qm.entrypoint("flaky", retry=qm.retry(max_attempts=3, initial_delay=0.0))
    async def flaky(job: Job) -> None:
        if job.attempts == 1:
            raise ConnectionError("first try fails")

    @qm.entrypoint("later", retry=qm.retry(max_attempts=3, initial_delay=60.0))
    async def later(job: Job) -> None:
        raise TimeoutError("gateway slow")

    @qm.entrypoint("spawn")
    def spawn(job: Job) -> None:
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            queries = SyncQueries(conn, settings.names)
            queries.enqueue("ok", f"child of {job.id}")
            queries.enqueue("ok", f"late child of {job.id}", execute_after=60.0)
