"""A job's story from what the tables hold, the job id and retention a person types, when a
worker prunes finished jobs, and the short forms of times the story prints: rules without a
database."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from pgqtop.commands.job import parse_job_id
from pgqtop.commands.run import parse_retention
from pgqtop.config import Settings
from pgqtop.db.rows import FinishedJob, JobFailure, WorkerInfo
from pgqtop.engine.retention import FinishedPruner
from pgqtop.errors import UsageError
from pgqtop.humanize import elapsed, span
from pgqtop.model import Job, Status, short_id
from pgqtop.operations import JobState, tell_story

NOW = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
WORKER = uuid.UUID("1a2b3c4d-0000-4000-8000-000000000000")


def at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def live_job(status: Status, *, execute_after: float = -60, updated: float = -60) -> Job:
    return Job(
        7,
        0,
        at(-60),
        at(updated),
        at(execute_after),
        status,
        "mail",
        b"{}",
        None,
        1 if status == Status.PICKED else 0,
        None,
        at(updated),
        WORKER if status == Status.PICKED else None,
    )


def registry() -> list[WorkerInfo]:
    return [
        WorkerInfo(WORKER, "host-a", 4242, "1", ["mail"], 10, NOW, NOW, 1, 0, 0, "running", 0.5)
    ]


def failure(attempt: int, *, final: bool, status: str = "exception") -> JobFailure:
    return JobFailure(
        attempt, "mail", 0, attempt, status, final, "ValueError: no", "Traceback ...",
        at(-50), at(-40 + attempt), WORKER, None,
    )  # fmt: skip


def test_nothing_known_is_no_story() -> None:
    assert tell_story(7, None, None, []) is None


def test_a_due_job_is_queued_and_waiting_since_it_was_due() -> None:
    story = tell_story(7, (live_job(Status.QUEUED, execute_after=-30), NOW), None, [])
    assert story is not None
    assert story.status == JobState.QUEUED
    assert story.waited_seconds == pytest.approx(30)
    assert story.picked is None and story.worker is None and story.job is not None


def test_a_job_due_later_is_scheduled() -> None:
    story = tell_story(7, (live_job(Status.QUEUED, execute_after=300), NOW), None, [])
    assert story is not None and story.status == JobState.SCHEDULED
    assert story.due == at(300) and story.waited_seconds is None


def test_a_picked_job_names_its_worker_and_how_long_it_runs() -> None:
    job = live_job(Status.PICKED, execute_after=-60, updated=-20)
    story = tell_story(7, (job, NOW), None, [], registry())
    assert story is not None and story.status == JobState.PICKED
    assert story.waited_seconds == pytest.approx(40) and story.ran_seconds == pytest.approx(20)
    assert story.worker is not None
    assert (story.worker.short_id, story.worker.host, story.worker.pid) == (
        "1a2b3c4d",
        "host-a",
        4242,
    )


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("successful", JobState.SUCCEEDED),
        ("exception", JobState.FAILED),
        ("canceled", JobState.CANCELED),
    ],
)
def test_a_finished_job_ends_as_its_outcome_on_the_worker_that_ran_it(
    status: str, state: JobState
) -> None:
    end = FinishedJob(
        7, "mail", 0, status, 2, at(-60), at(-30), at(-29), at(-28), 1.0, 0.9, WORKER, "host-b", 9
    )
    story = tell_story(7, None, end, [failure(1, final=False)])
    assert story is not None and story.status == state
    assert story.finished == at(-28) and story.ran_seconds == 0.9 and story.waited_seconds == 1.0
    # The host and pid kept with the end stand although the worker left the registry.
    assert story.worker is not None and (story.worker.host, story.worker.pid) == ("host-b", 9)
    assert story.worker.registered is False
    assert [a.attempt for a in story.failures] == [1]


def test_with_only_failures_left_a_final_one_is_the_end() -> None:
    story = tell_story(7, None, None, [failure(1, final=False), failure(2, final=True)], registry())
    assert story is not None and story.status == JobState.FAILED
    assert story.finished == at(-38) and story.worker is not None
    canceled = tell_story(7, None, None, [failure(1, final=True, status="canceled")])
    assert canceled is not None and canceled.status == JobState.CANCELED


def test_with_only_retried_failures_left_the_end_is_unknown() -> None:
    story = tell_story(7, None, None, [failure(1, final=False)])
    assert story is not None and story.status == JobState.ENDED
    assert story.finished is None and story.worker is None


def test_the_short_id_is_the_first_eight_hex_digits() -> None:
    assert short_id(WORKER) == "1a2b3c4d" == short_id(str(WORKER))
    assert short_id(None) == "-"


@pytest.mark.parametrize(("text", "job_id"), [("42", 42), (" 7 ", 7), ("#12", 12)])
def test_job_ids_read_as_typed(text: str, job_id: int) -> None:
    assert parse_job_id(text) == job_id


@pytest.mark.parametrize("text", ["", "0", "-3", "abc", "1.5", "99999999999999999999"])
def test_malformed_job_ids_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(UsageError, match="positive whole number") as raised:
        parse_job_id(text)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(("text", "seconds"), [("1h", 3600), ("30m", 1800), ("0", 0), ("0s", 0)])
def test_retention_is_a_duration_or_zero(text: str, seconds: float) -> None:
    assert parse_retention(text, "--keep-finished") == seconds


@pytest.mark.parametrize("text", ["-1h", "soon", ""])
def test_malformed_retention_names_the_flag(text: str) -> None:
    with pytest.raises(UsageError, match="--keep-finished"):
        parse_retention(text, "--keep-finished")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0.00085, "850µs"), (0.0123, "12ms"), (0.9996, "1.00s"), (1.25, "1.25s"),
     (14.23, "14.2s"), (59.99, "1m00s"), (125, "2m05s")],
)  # fmt: skip
def test_short_times_show_to_the_precision_they_deserve(seconds: float | None, shown: str) -> None:
    assert elapsed(seconds) == shown


@pytest.mark.parametrize(("seconds", "shown"), [(3600, "1h"), (5400, "1h30m"), (90, "1m30s")])
def test_configured_spans_use_their_fewest_units(seconds: float, shown: str) -> None:
    assert span(seconds) == shown


def test_a_worker_prunes_finished_jobs_by_time_or_by_its_own_volume() -> None:
    settings = Settings(keep_finished_rows=100_000)
    pruner = FinishedPruner(settings)
    quiet = time.monotonic()
    assert pruner.volume == 10_000
    assert not pruner.due(processed=9_999, now=quiet)
    assert pruner.due(processed=10_000, now=quiet)
    assert pruner.due(processed=0, now=quiet + 301)
    settings.keep_finished_rows = 50
    assert FinishedPruner(settings).volume == 1_000
    settings.keep_finished_seconds = 0
    assert not pruner.due(processed=10**9, now=quiet + 10**6)
