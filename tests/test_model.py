"""The model's rules, without a database: one-line messages, the all-entrypoints marker, the
status sets and the enqueue checks."""

from __future__ import annotations

import asyncio

import pytest

from pgqtop.errors import PayloadTooLarge, UsageError
from pgqtop.model import (
    ALL_ENTRYPOINTS,
    ALL_STATUSES,
    FAILED_OUTCOMES,
    WAITING,
    WORKER_OUTCOMES,
    NewJob,
    Status,
    check_new_jobs,
    first_line,
    is_reserved_name,
    purge_statuses,
    target_label,
)

DSN = "postgresql://app:s3cret-pw@db.internal/jobs"


class PaymentDeclined(Exception):
    """A handler's own exception, defined outside builtins."""


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (ValueError("bad address"), "bad address"),
        (ValueError("  first\nsecond\n"), "first"),
        (ValueError(""), "ValueError"),
        (ValueError("   \n  "), "ValueError"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
    ],
)
def test_first_line_is_one_line_and_never_fails_on_an_empty_message(
    exc: BaseException, line: str
) -> None:
    assert first_line(exc) == line


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (ValueError("attempt 3 broke\ndetail"), "ValueError: attempt 3 broke"),
        (SystemExit(3), "SystemExit: 3"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
        (asyncio.CancelledError(), "asyncio.exceptions.CancelledError"),
        (PaymentDeclined("card"), f"{__name__}.PaymentDeclined: card"),
    ],
)
def test_typed_first_line_names_the_type_as_a_traceback_does(exc: BaseException, line: str) -> None:
    assert first_line(exc, typed=True) == line


def test_first_line_masks_the_password_of_the_dsn_it_is_given() -> None:
    exc = ConnectionError(f"could not reach {DSN}\nmore")
    assert "s3cret-pw" in first_line(exc)
    masked = first_line(exc, DSN)
    assert "s3cret-pw" not in masked and masked.startswith("could not reach postgresql://app:")


def test_the_all_entrypoints_marker_reads_as_every_entrypoint() -> None:
    assert target_label(ALL_ENTRYPOINTS) == "every entrypoint"
    assert target_label(ALL_ENTRYPOINTS, quoted=True) == "every entrypoint"
    assert target_label("send_email") == "send_email"
    assert target_label("send_email", quoted=True) == "'send_email'"


def test_reserved_names_are_refused_before_anything_is_written() -> None:
    assert is_reserved_name(ALL_ENTRYPOINTS) and is_reserved_name("")
    assert not is_reserved_name("send_email")
    check_new_jobs([NewJob("a"), NewJob("b")], 1024)
    with pytest.raises(UsageError, match="invalid entrypoint name"):
        check_new_jobs([NewJob("a"), NewJob(ALL_ENTRYPOINTS)], 1024)


def test_status_sets_partition_the_statuses() -> None:
    assert [s.value for s in ALL_STATUSES] == [
        "queued",
        "picked",
        "successful",
        "exception",
        "canceled",
        "deleted",
    ]
    assert set(WORKER_OUTCOMES) == {Status.SUCCESSFUL, *FAILED_OUTCOMES}
    assert not set(WAITING) & set(WORKER_OUTCOMES)
    assert Status.DELETED not in WORKER_OUTCOMES  # a purge is not work done
    assert "successful" in WORKER_OUTCOMES  # rows carry status text


def test_purge_takes_queued_by_default_and_only_waiting_statuses() -> None:
    assert purge_statuses(None) == ["queued"]
    assert purge_statuses(["picked", "queued"]) == ["picked", "queued"]
    with pytest.raises(UsageError, match="choose from queued, picked"):
        purge_statuses(["successful"])


def test_oversize_payload_names_its_size() -> None:
    check_new_jobs([NewJob("a", b"12345"), NewJob("a")], 5)
    with pytest.raises(PayloadTooLarge, match="payload of 6 bytes exceeds the maximum of 5"):
        check_new_jobs([NewJob("a", b"123"), NewJob("a", b"123456"), NewJob("a")], 5)
