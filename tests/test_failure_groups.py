"""Failure triage against a real database: the generated error pattern agrees with the model's,
failures group by it, and a group is requeued or its records deleted after an exact count."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgqtop import operations
from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from pgqtop.model.fingerprint import error_pattern, fingerprint
from tests.test_cli_admin import cli, target
from tests.test_schema import sq

TRICKY = [
    "app.PaymentDeclined: card 4242 declined for order 99120",
    "KeyError: 'user_42'",
    'ValueError: bad address "ana@example.com"',
    "can't reach host 'db-3' after 3 tries",
    "job 3fa85f64-5717-4562-b3fc-2c963f66afa6 lost at 0xDEADbeef",
    "deadline 2024-01-02T03:04:05.123Z passed; trace ab12cd34ef56",
    "utf8 codec, sha256 digest, api v2, user_7, INV-931, 3.5 GB, 10.0.0.1",
    "café'x' and é'y' 12ü34 ''",
    "first line 7\nsecond line 9",
]


def sql_patterns(
    conn: psycopg.Connection[Any], names: ObjectNames, errors: list[str]
) -> list[tuple[str, str]]:
    """(pattern, fingerprint) as the database computes them for failures with these errors;
    written and rolled back."""
    with conn.transaction(force_rollback=True):
        found = conn.execute(
            sq(
                "WITH written AS (INSERT INTO {failures} (job_id, entrypoint, error)"
                " SELECT n, 'mail', e FROM unnest(%s::text[]) WITH ORDINALITY AS t(e, n)"
                " RETURNING job_id, error_pattern,"
                " left(md5(entrypoint || chr(10) || error_pattern), 12) AS fp)"
                " SELECT error_pattern, fp FROM written ORDER BY job_id",
                names,
            ),
            (errors,),
        ).fetchall()
    return [(str(r[0]), str(r[1])) for r in found]


def test_the_database_computes_the_models_pattern_and_fingerprint(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    expected = [(error_pattern(e), fingerprint("mail", error_pattern(e))) for e in TRICKY]
    assert sql_patterns(sync_conn, names, TRICKY) == expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(list("0123456789abcdefxXT-_.: '\"\nzé")), max_size=40),
        min_size=1,
        max_size=40,
    )
)
def test_the_database_agrees_with_the_model_on_any_error_text(
    sync_conn: psycopg.Connection[Any], names: ObjectNames, errors: list[str]
) -> None:
    assert [p for p, _ in sql_patterns(sync_conn, names, errors)] == [
        error_pattern(e) for e in errors
    ]


async def fail(
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
    entrypoint: str,
    errors: list[str],
    *,
    retried: int = 0,
) -> None:
    """Enqueue, take and fail one job per error; the first `retried` are retried, not final."""
    ids = await queries.enqueue([entrypoint] * len(errors))
    worker = uuid.uuid4()
    await worker_queries.dequeue({entrypoint: len(errors)}, len(errors), worker, 30.0)
    outcomes = [
        Outcome(
            job,
            Status.EXCEPTION,
            0.01,
            error,
            "Traceback ...",
            retry_in=60 if n < retried else None,
        )
        for n, (job, error) in enumerate(zip(ids, errors, strict=True))
    ]
    await worker_queries.complete(outcomes, worker)


async def test_failures_group_by_entrypoint_and_pattern_largest_first(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    declined = [f"app.PaymentDeclined: card {n} declined for order {n * 7}" for n in range(6)]
    await fail(queries, worker_queries, "charge", declined, retried=2)
    await fail(queries, worker_queries, "charge", ["KeyError: 'a'", "KeyError: 'b'"])
    await fail(queries, worker_queries, "mail", ["KeyError: 'c'"])

    groups = await operations.failure_groups(queries)

    assert [(g.entrypoint, g.error_pattern, g.count) for g in groups] == [
        ("charge", "app.PaymentDeclined: card <n> declined for order <n>", 6),
        ("charge", "KeyError: <str>", 2),
        ("mail", "KeyError: <str>", 1),
    ]
    top = groups[0]
    assert (top.final, top.requeueable, top.exception) == (4, 4, "app.PaymentDeclined")
    assert top.fingerprint == fingerprint("charge", top.error_pattern)
    assert top.first_seen <= top.last_seen
    newest = [f for f in await queries.recent_failures(100, "charge") if "Declined" in f.error]
    assert top.sample_id == newest[0].id
    assert [g.count for g in await operations.failure_groups(queries, entrypoint="mail")] == [1]
    assert await operations.failure_groups(queries, seconds=0.000001) == []


async def test_a_group_is_requeued_after_an_exact_count_and_only_once(
    queries: ConsoleQueries, worker_queries: WorkerQueries, names: ObjectNames, sync_conn: Any
) -> None:
    await fail(
        queries, worker_queries, "charge", [f"Declined: order {n}" for n in range(5)], retried=1
    )
    await fail(queries, worker_queries, "charge", ["Timeout: after 30 s"])
    (group,) = [g for g in await operations.failure_groups(queries) if g.count == 5]

    plan = await operations.plan_requeue(queries, fingerprint=group.fingerprint)
    assert plan.count == 4  # the retried one was not final
    assert await operations.execute_requeue(queries, plan, reason="gateway back") == 4
    queued = sync_conn.execute(sq("SELECT count(*) FROM {jobs} WHERE status = 'queued'", names))
    assert queued.fetchone() == (1 + 4,)  # the retry waiting, and the four requeued
    assert (await operations.plan_requeue(queries, fingerprint=group.fingerprint)).count == 0
    (entry,) = await operations.audit_log(queries, 60)
    assert (entry.action, entry.target, entry.count, entry.reason) == (
        "requeue",
        f"group {group.fingerprint}",
        4,
        "gateway back",
    )


async def test_a_groups_records_are_deleted_after_an_exact_count(
    queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    await fail(queries, worker_queries, "charge", [f"Declined: order {n}" for n in range(3)])
    await fail(queries, worker_queries, "charge", ["Timeout: after 30 s"])
    (group,) = [g for g in await operations.failure_groups(queries) if g.count == 3]

    plan = await operations.plan_purge_failures(queries, group.fingerprint)
    assert plan.count == 3 and plan.group == group
    assert await operations.execute_purge_failures(queries, plan, reason="known issue") == 3
    assert [g.error_pattern for g in await operations.failure_groups(queries)] == [
        "Timeout: after <n> s"
    ]
    assert (await operations.plan_purge_failures(queries, group.fingerprint)).group is None
    (entry,) = await operations.audit_log(queries, 60)
    assert (entry.action, entry.target, entry.count) == (
        "purge-failures",
        f"group {group.fingerprint} (charge)",
        3,
    )


async def test_failures_command_lists_failures_and_groups(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    queries: ConsoleQueries,
    worker_queries: WorkerQueries,
) -> None:
    await fail(queries, worker_queries, "charge", ["Declined: order 1", "Declined: order 2"])
    await fail(queries, worker_queries, "mail", ["KeyError: 'x'"])
    group = fingerprint("charge", "Declined: order <n>")

    code, out, _ = await asyncio.to_thread(
        cli, capsys, "failures", "--group", "--json", *target(dsn, names)
    )
    groups = json.loads(out)
    assert code == 0 and (groups[0]["fingerprint"], groups[0]["count"]) == (group, 2)
    assert set(groups[0]) == {
        "fingerprint", "entrypoint", "exception", "error_pattern", "count", "first_seen",
        "last_seen", "sample_id", "final", "requeueable",
    }  # fmt: skip

    code, out, _ = await asyncio.to_thread(
        cli, capsys, "failures", "--entrypoint", "charge", "--json", *target(dsn, names)
    )
    assert [(f["entrypoint"], f["fingerprint"]) for f in json.loads(out)] == [
        (
            "charge",
            group,
        )
    ] * 2

    code, out, _ = await asyncio.to_thread(
        cli, capsys, "failures", "--group", "--since", "1h", *target(dsn, names)
    )
    assert out.splitlines()[0].split()[:3] == ["GROUP", "ENTRYPOINT", "COUNT"]
    assert out.splitlines()[1].split()[:3] == [group, "charge", "2"]
