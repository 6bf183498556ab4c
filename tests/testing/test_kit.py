"""The testing kit: a queue per test, a drain that reports every attempt, retries without
waiting, typed payloads checked before the handler runs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqtop import PayloadInvalid
from pgqtop.config import Settings
from pgqtop.engine.burst import BURST_FAILED
from pgqtop.testing import Harness, configured_dsn, isolated_queue
from tests.testing.kit_factory import SEEN, Declined, Invoice, Welcome, register


def test_a_retried_job_is_reported_attempt_by_attempt_without_waiting_its_delays(
    pgqtop_queue: Harness,
) -> None:
    recovers = pgqtop_queue.enqueue("charge", {"fail_until": 2})
    gives_up = pgqtop_queue.enqueue("charge", {"fail_until": 9})
    started = time.monotonic()

    result = pgqtop_queue.drain(register)

    assert time.monotonic() - started < 20  # the delays (30 s, 60 s) were not waited out
    assert [a.status for a in result[recovers].attempts] == ["retried", "retried", "succeeded"]
    assert result[recovers].succeeded and result[recovers].retry_delays == [30.0, 60.0]
    report = result[gives_up]
    assert report.failed and [a.number for a in report.attempts] == [1, 2, 3]
    assert isinstance(report.exception, Declined) and report.exception.code == 51
    assert report.error == "tests.testing.kit_factory.Declined: card declined with code 51"
    assert "in charge" in report.traceback and "raise Declined(51)" in report.traceback
    assert report.attempts[-1].retry_in is None
    assert result.failed == [report] and result.exit_code == BURST_FAILED
    with pytest.raises(AssertionError, match=r"attempt 1: retried: .*Declined.*\(retry in 30s\)"):
        result.assert_all_succeeded()


def test_without_fast_forward_a_retry_is_left_waiting_with_its_delay(
    pgqtop_queue: Harness,
) -> None:
    report = pgqtop_queue.run(register, "charge", {"fail_until": 1})
    assert report.status == "succeeded"  # fast-forwarded by default

    job_id = pgqtop_queue.enqueue("charge", {"fail_until": 1})
    result = pgqtop_queue.drain(register, fast_forward_retries=False)
    assert result[job_id].status == "waiting" and result[job_id].retry_delays == [30.0]
    assert result.waiting == [result[job_id]] and result.exit_code == 0
    assert result.burst.retries_waiting == 1


def test_a_timeout_is_a_failure_with_its_reason(pgqtop_queue: Harness) -> None:
    report = pgqtop_queue.run(register, "slow")
    assert report.failed and report.error == "timed out after 0.1s"
    assert isinstance(report.exception, asyncio.CancelledError)  # what stopped the handler


def test_jobs_handlers_enqueue_are_drained_and_reported_too(pgqtop_queue: Harness) -> None:
    parent = pgqtop_queue.enqueue("fan_out", "3")
    result = pgqtop_queue.drain("tests.testing.kit_factory:register")
    assert [r.entrypoint for r in result] == ["fan_out", "ok", "ok", "ok"]
    assert result[parent].succeeded and len(result.of("ok")) == 3
    assert [r.payload for r in result.of("ok")] == [b"0", b"1", b"2"]
    result.assert_all_succeeded()


def test_typed_payloads_reach_handlers_as_models_and_bad_ones_fail_once(
    pgqtop_queue: Harness,
) -> None:
    SEEN.clear()
    good = pgqtop_queue.enqueue("welcome", Welcome("ana@example.com", "Ana"))
    bad = pgqtop_queue.enqueue("welcome", {"email": "bo@example.com"})
    paid = pgqtop_queue.enqueue("invoice", Invoice(number="INV-7", cents=1250))
    unpaid = pgqtop_queue.enqueue("invoice", '{"number": "INV-8", "cents": "lots"}')

    result = pgqtop_queue.drain(register)

    assert result[good].succeeded and result[paid].succeeded
    received = list(SEEN)
    assert received == [Welcome("ana@example.com", "Ana"), Invoice(number="INV-7", cents=1250)]
    for job_id in (bad, unpaid):
        report = result[job_id]
        # Five attempts allowed, one made: the same payload would fail the same way.
        assert report.failed and len(report.attempts) == 1
        assert isinstance(report.exception, PayloadInvalid)
    assert (
        result[bad].error == "pgqtop.PayloadInvalid: payload is not a valid Welcome: name: missing"
    )
    assert result[unpaid].error.startswith(
        "pgqtop.PayloadInvalid: payload is not a valid Invoice: cents: Input should be a valid"
    )


async def test_async_tests_use_the_async_twins(pgqtop_queue: Harness) -> None:
    report = await pgqtop_queue.arun(register, "ok", "hello")
    assert report.succeeded and report.payload == b"hello"
    with pytest.raises(RuntimeError, match=r"await pgqtop_queue\.adrain"):
        pgqtop_queue.drain(register)


def test_each_test_gets_its_own_prefix_dropped_afterwards(
    pgqtop_settings: Settings, pgqtop_dsn: str
) -> None:
    with isolated_queue(pgqtop_dsn) as other:
        assert other.names.prefix != pgqtop_settings.names.prefix
        with Harness(other) as harness:
            harness.enqueue("ok")
        jobs_table = other.names.jobs
    with psycopg.connect(pgqtop_dsn) as conn:
        found = conn.execute("SELECT to_regclass(%s)", [sql.Identifier(jobs_table).as_string(conn)])
        row: Any = found.fetchone()
    assert row == (None,)


def test_the_test_database_comes_from_the_environment_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("PGQTOP_TEST_DSN", "PGQTOP_DSN", "DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    assert configured_dsn() is None
    monkeypatch.setenv("DATABASE_URL", "postgresql:///app")
    assert configured_dsn() == "postgresql:///app"
    monkeypatch.setenv("PGQTOP_DSN", "postgresql:///queue")
    assert configured_dsn() == "postgresql:///queue"
    monkeypatch.setenv("PGQTOP_TEST_DSN", "postgresql:///scratch")
    assert configured_dsn() == "postgresql:///scratch"


def test_a_factory_that_registers_nothing_is_refused(pgqtop_queue: Harness) -> None:
    with pytest.raises(Exception, match="registered no entrypoints"):
        pgqtop_queue.drain(lambda qm: None)
