"""Model-based property test: random enqueue / dequeue / complete / fail / retry / pause / purge
sequences against the real database must always agree with a plain in-memory model of a queue."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import Coroutine
from typing import Any, TypeVar

import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from psycopg import sql

from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status

ENTRYPOINTS = ("send", "it's", "naïve name", "a;DROP TABLE x")
T = TypeVar("T")


@dataclasses.dataclass
class ModelJob:
    id: int
    entrypoint: str
    priority: int
    status: str = "queued"


class QueueModel(RuleBasedStateMachine):
    dsn: str
    names: ObjectNames

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.conn = self.run(psycopg.AsyncConnection.connect(self.dsn, autocommit=True))
        self.queries = ConsoleQueries(self.conn, self.names)
        self.worker_queries = WorkerQueries(self.conn, self.names)
        self.worker = uuid.uuid4()
        self.jobs: dict[int, ModelJob] = {}
        self.paused: set[str] = set()
        self.finished: Counter[tuple[str, str]] = Counter()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.conn.close())
        self.loop.close()

    @initialize()
    def empty_tables(self) -> None:
        tables = [
            sql.Identifier(t) for t in (self.names.jobs, self.names.statistics, self.names.failures)
        ]
        tables.append(sql.Identifier(self.names.control))
        self.run(self.conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(tables))))

    @rule(
        entrypoint=st.sampled_from(ENTRYPOINTS),
        priorities=st.lists(st.integers(0, 3), min_size=1, max_size=5),
    )
    def enqueue(self, entrypoint: str, priorities: list[int]) -> None:
        ids = self.run(self.queries.enqueue([entrypoint] * len(priorities), None, priorities))
        assert len(ids) == len(priorities)
        for job_id, priority in zip(ids, priorities, strict=True):
            self.jobs[job_id] = ModelJob(job_id, entrypoint, priority)

    @rule(
        rooms=st.dictionaries(st.sampled_from(ENTRYPOINTS), st.integers(0, 4), min_size=1),
        batch=st.integers(1, 6),
    )
    def dequeue(self, rooms: dict[str, int], batch: int) -> None:
        expected: list[ModelJob] = []
        for entrypoint, room in rooms.items():
            if room <= 0 or entrypoint in self.paused or "*" in self.paused:
                continue
            waiting = sorted(
                (
                    j
                    for j in self.jobs.values()
                    if j.entrypoint == entrypoint and j.status == "queued"
                ),
                key=lambda j: (-j.priority, j.id),
            )
            expected.extend(waiting[: min(room, batch)])
        expected = sorted(expected, key=lambda j: (-j.priority, j.id))[:batch]
        taken = self.run(self.worker_queries.dequeue(rooms, batch, self.worker, 0))
        assert [j.id for j in taken] == [j.id for j in expected]
        for job in taken:
            assert job.status is Status.PICKED
            self.jobs[job.id].status = "picked"

    @precondition(lambda self: any(j.status == "picked" for j in self.jobs.values()))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        picked = sorted(j.id for j in self.jobs.values() if j.status == "picked")
        chosen = data.draw(st.lists(st.sampled_from(picked), min_size=1, unique=True))
        kinds = data.draw(
            st.lists(
                st.sampled_from(["ok", "fail", "retry", "cancel"]),
                min_size=len(chosen),
                max_size=len(chosen),
            )
        )
        outcomes = []
        for job_id, kind in zip(chosen, kinds, strict=True):
            job = self.jobs[job_id]
            if kind == "retry":
                outcomes.append(Outcome(job_id, Status.EXCEPTION, 0.0, "boom", "tb", retry_in=0.0))
                job.status = "queued"
                continue
            status = {
                "ok": Status.SUCCESSFUL,
                "fail": Status.EXCEPTION,
                "cancel": Status.CANCELED,
            }[kind]
            outcomes.append(Outcome(job_id, status, 0.001, "boom", "tb"))
            self.finished[(job.entrypoint, status.value)] += 1
            del self.jobs[job_id]
        result = self.run(self.worker_queries.complete(outcomes, self.worker))
        retried = kinds.count("retry")
        assert result.retried == retried
        assert result.finished == len(chosen) - retried
        assert result.failures_recorded == len(chosen) - kinds.count("ok")

    @rule(entrypoint=st.sampled_from((*ENTRYPOINTS, "*")))
    def pause(self, entrypoint: str) -> None:
        self.run(self.queries.pause([entrypoint], reason="model"))
        self.paused.add(entrypoint)

    @rule(entrypoint=st.sampled_from((*ENTRYPOINTS, "*")))
    def resume(self, entrypoint: str) -> None:
        resumed = self.run(self.queries.resume([entrypoint]))
        assert resumed == (1 if entrypoint in self.paused else 0)
        self.paused.discard(entrypoint)

    @rule(entrypoint=st.one_of(st.none(), st.sampled_from(ENTRYPOINTS)))
    def purge(self, entrypoint: str | None) -> None:
        doomed = [
            j
            for j in self.jobs.values()
            if j.status == "queued" and entrypoint in (None, j.entrypoint)
        ]
        purged = self.run(self.queries.purge([entrypoint] if entrypoint else None))
        assert purged == len(doomed)
        for job in doomed:
            self.finished[(job.entrypoint, "deleted")] += 1
            del self.jobs[job.id]

    @invariant()
    def counts_match(self) -> None:
        counts = self.run(self.queries.queue_counts())
        actual = {(c.entrypoint, c.status): c.count for c in counts}
        expected = Counter((j.entrypoint, j.status) for j in self.jobs.values())
        assert actual == dict(expected)

    @invariant()
    def statistics_match(self) -> None:
        outcomes = self.run(self.queries.recent_outcomes(3600))
        assert outcomes == {k: v for k, v in self.finished.items() if v}


def test_queue_agrees_with_model(dsn: str, names: ObjectNames) -> None:
    machine = type("Machine", (QueueModel,), {"dsn": dsn, "names": names})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
