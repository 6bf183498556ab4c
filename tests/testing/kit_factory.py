"""Handlers for the testing kit's own tests, also loaded by name ("module:function")."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import psycopg
import pydantic

from pgqtop import Job, QueueManager, SyncQueries


class Declined(Exception):
    """A payment the gateway refused (carries its code, to prove the object itself arrives)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"card declined with code {code}")
        self.code = code


@dataclasses.dataclass
class Welcome:
    email: str
    name: str


class Invoice(pydantic.BaseModel):
    number: str
    cents: int


SEEN: list[object] = []
"""What the typed handlers received, in order (reset by the tests that read it)."""


def register(qm: QueueManager) -> None:
    @qm.entrypoint("ok")
    async def ok(job: Job) -> None:
        return None

    @qm.entrypoint("charge", retry=qm.retry(max_attempts=3, initial_delay=30.0, backoff=2.0))
    async def charge(job: Job) -> None:
        if job.json()["fail_until"] >= job.attempts:
            raise Declined(51)

    @qm.entrypoint("slow", timeout=0.1)
    async def slow(job: Job) -> None:
        await asyncio.sleep(5)

    @qm.entrypoint("fan_out")
    def fan_out(job: Job) -> None:  # a sync handler that enqueues more work
        with psycopg.connect(qm.settings.dsn, autocommit=True) as conn:
            queries = SyncQueries(conn, qm.settings.names)
            for n in range(int(job.text() or 0)):
                queries.enqueue("ok", str(n))

    @qm.entrypoint("welcome", payload=Welcome, retry=qm.retry(max_attempts=5))
    async def welcome(job: Job, payload: Welcome) -> None:
        SEEN.append(payload)

    @qm.entrypoint("invoice", payload=Invoice, retry=qm.retry(max_attempts=5))
    def invoice(job: Job, payload: Invoice) -> None:  # sync, in the thread pool
        SEEN.append(payload)
        time.sleep(0.001)
