"""The sign-up jobs, tested with pgqtop's testing kit: enqueue, drain, look at each job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import signup_jobs
from signup_jobs import Crm, CrmUnavailable, Mailer, Welcome, register

from pgqtop import PayloadInvalid
from pgqtop.testing import Harness


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    signup_jobs.MAILER = Mailer()
    signup_jobs.CRM = Crm()
    yield


def test_the_welcome_email_goes_to_the_new_user(pgqtop_queue: Harness) -> None:
    job = pgqtop_queue.run(register, "send_welcome", Welcome("ana@example.com", "Ana"))

    job.assert_succeeded()
    assert signup_jobs.MAILER.sent == [("ana@example.com", "Welcome, Ana!")]


def test_a_bad_address_fails_the_job_with_the_mailers_error(pgqtop_queue: Harness) -> None:
    job = pgqtop_queue.run(register, "send_welcome", Welcome("not-an-address", "Bo"))

    assert job.failed
    assert isinstance(job.exception, ValueError)
    assert "not an email address" in str(job.exception)


def test_a_welcome_without_a_name_is_refused_before_the_handler_runs(
    pgqtop_queue: Harness,
) -> None:
    job = pgqtop_queue.run(register, "send_welcome", {"email": "cy@example.com"})

    assert isinstance(job.exception, PayloadInvalid)
    assert "name: missing" in job.error
    assert signup_jobs.MAILER.sent == []


def test_the_crm_sync_rides_out_a_short_outage(pgqtop_queue: Harness) -> None:
    signup_jobs.CRM = Crm(outage=2)

    job = pgqtop_queue.run(register, "sync_crm", {"email": "di@example.com"})

    # Two failures, retried after 10 s and 20 s: reported, not waited for.
    assert [a.status for a in job.attempts] == ["retried", "retried", "succeeded"]
    assert job.retry_delays == [10.0, 20.0]
    assert signup_jobs.CRM.contacts == ["di@example.com"]


def test_a_long_outage_uses_up_the_retries(pgqtop_queue: Harness) -> None:
    signup_jobs.CRM = Crm(outage=10)

    job = pgqtop_queue.run(register, "sync_crm", {"email": "ed@example.com"})

    assert job.failed and len(job.attempts) == 4
    assert isinstance(job.exception, CrmUnavailable)
