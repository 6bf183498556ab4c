"""A job's story as a person reads it, one line per moment: `pgqtop job ID` prints it and the
console's go-to-job shows it."""

from __future__ import annotations

from pgqtop.config import Settings
from pgqtop.errors import UsageError
from pgqtop.humanize import elapsed, format_time, span
from pgqtop.operations import JobState, JobStory, WorkerRef

LARGEST_JOB_ID = 2**63 - 1


def parse_job_id(text: str) -> int:
    """A job id as typed: a positive whole number that fits the jobs table's bigint."""
    cleaned = text.strip().removeprefix("#")
    if not cleaned.isdecimal() or not 0 < int(cleaned) <= LARGEST_JOB_ID:
        raise UsageError(f"a job id is a positive whole number, not {text!r}")
    return int(cleaned)


def retention_note(settings: Settings) -> str:
    """How long finished jobs are kept, as the message about an unknown job says it."""
    keep = settings.keep_finished_seconds
    return f"finished jobs are kept for {span(keep)}" if keep > 0 else "finished jobs are not kept"


def worker_text(worker: WorkerRef | None) -> str:
    if worker is None:
        return "an unknown worker"
    if worker.host is None:
        return f"worker {worker.short_id} (no longer registered)"
    return f"worker {worker.short_id} ({worker.host}, pid {worker.pid})"


def story_lines(story: JobStory, settings: Settings) -> list[str]:
    """The story as a person reads it: one line per moment, tracebacks indented below."""
    lines = [f"job {story.job_id} ({story.entrypoint}, priority {story.priority}): {story.status}"]

    def moment(label: str, text: str) -> None:
        lines.append(f"  {label:<10} {text}")

    if story.created is not None:
        moment("created", format_time(story.created))
    for attempt in story.failures:
        what = "canceled" if attempt.status == "canceled" else "failed"
        last = ", not retried" if attempt.final else ", retried"
        moment(
            f"attempt {attempt.attempt}",
            f"{what} {format_time(attempt.failed_at)} on {worker_text(attempt.worker)}{last}: "
            f"{attempt.error}",
        )
        lines.extend(f"{'':13}{line}" for line in attempt.traceback.rstrip().splitlines())
        if attempt.requeued_at is not None:
            moment("", f"requeued as a new job {format_time(attempt.requeued_at)}")
    # The due time kept is the latest attempt's: after a failure, when its retry came due.
    if story.due is not None and story.status != JobState.SCHEDULED:
        moment("retry due" if story.failures else "due", format_time(story.due))
    if story.status == JobState.SCHEDULED:
        moment("scheduled", f"to run from {format_time(story.due)}")
    elif story.status == JobState.QUEUED:
        moment("waiting", f"for a worker for {elapsed(story.waited_seconds)}")
    elif story.picked is not None:
        moment(
            "picked",
            f"{format_time(story.picked)} by {worker_text(story.worker)} after waiting "
            f"{elapsed(story.waited_seconds)}",
        )
    if story.status == JobState.PICKED:
        moment("running", f"for {elapsed(story.ran_seconds)} (attempt {story.attempts})")
    elif story.finished is not None:
        ran = (
            f" after running {elapsed(story.ran_seconds)}" if story.ran_seconds is not None else ""
        )
        moment(str(story.status), f"{format_time(story.finished)}{ran} (attempt {story.attempts})")
    elif story.status == JobState.ENDED:
        moment("ended", f"how is no longer known ({retention_note(settings)}, or it was purged)")
    if story.job is not None:
        size = len(story.job.payload) if story.job.payload is not None else 0
        moment("payload", f"{size} bytes")
        if story.job.headers:
            moment("headers", str(story.job.headers))
        if story.job.dedupe_key:
            moment("dedupe key", story.job.dedupe_key)
    return lines
