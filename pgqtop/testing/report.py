"""What a drain tells a test: every attempt of every job it ran, with the exception the
handler raised, and the retry delay pgqtop chose."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Literal

from pgqtop.engine.burst import BurstResult

AttemptStatus = Literal["succeeded", "failed", "retried", "canceled"]
JobStatus = Literal["succeeded", "failed", "canceled", "waiting"]


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a job."""

    number: int
    """1 for the first run, 2 for the first retry, ..."""
    status: AttemptStatus
    run_seconds: float
    error: str = ""
    """The line pgqtop records (`ValueError: bad address`, `timed out after 2s`)."""
    traceback: str = ""
    exception: BaseException | None = None
    """What the handler raised (PayloadInvalid for a payload that does not fit its model; the
    CancelledError that stopped an async handler at its timeout or a cancel); None for a
    success, and for a sync handler's timeout (its thread cannot be stopped)."""
    retry_in: float | None = None
    """Seconds until the retry pgqtop scheduled; None when the attempt was final."""


@dataclasses.dataclass(slots=True)
class JobReport:
    """A job the drain ran, and each of its attempts in order."""

    job_id: int
    entrypoint: str
    payload: bytes | None
    attempts: list[Attempt] = dataclasses.field(default_factory=list)

    @property
    def status(self) -> JobStatus:
        """How it ended; `waiting` when its last attempt was retried and the retry did not run
        (the drain was told not to fast-forward retries)."""
        last = self.attempts[-1].status
        return "waiting" if last == "retried" else last

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def failed(self) -> bool:
        """Ended as a final failure (retries used up, or none allowed)."""
        return self.status == "failed"

    @property
    def last_failure(self) -> Attempt | None:
        failures = [a for a in self.attempts if a.status != "succeeded"]
        return failures[-1] if failures else None

    @property
    def exception(self) -> BaseException | None:
        """What the last failed attempt raised."""
        failure = self.last_failure
        return failure.exception if failure else None

    @property
    def error(self) -> str:
        failure = self.last_failure
        return failure.error if failure else ""

    @property
    def traceback(self) -> str:
        failure = self.last_failure
        return failure.traceback if failure else ""

    @property
    def retry_delays(self) -> list[float]:
        """The delay pgqtop scheduled after each retried attempt (not waited out by a drain
        that fast-forwards retries)."""
        return [a.retry_in for a in self.attempts if a.retry_in is not None]

    def describe(self) -> str:
        """A few lines for an assertion message: the job, each attempt, the last traceback."""
        lines = [f"job {self.job_id} ({self.entrypoint}): {self.status}"]
        for attempt in self.attempts:
            line = f"  attempt {attempt.number}: {attempt.status}"
            if attempt.error:
                line += f": {attempt.error}"
            if attempt.retry_in is not None:
                line += f" (retry in {attempt.retry_in:g}s)"
            lines.append(line)
        if self.traceback:
            lines.append("  " + self.traceback.rstrip().replace("\n", "\n  "))
        return "\n".join(lines)

    def assert_succeeded(self) -> None:
        """AssertionError with every attempt and the last traceback unless it succeeded."""
        if not self.succeeded:
            raise AssertionError(self.describe())


@dataclasses.dataclass(slots=True)
class DrainResult:
    """Every job a drain ran (the ones given and the ones handlers enqueued), by id."""

    jobs: dict[int, JobReport]
    burst: BurstResult

    def __getitem__(self, job_id: int) -> JobReport:
        return self.jobs[job_id]

    def __iter__(self) -> Iterator[JobReport]:
        return iter(self.jobs.values())

    def __len__(self) -> int:
        return len(self.jobs)

    def of(self, entrypoint: str) -> list[JobReport]:
        """The reports of one entrypoint's jobs, in id order."""
        return [r for r in self if r.entrypoint == entrypoint]

    @property
    def succeeded(self) -> list[JobReport]:
        return [r for r in self if r.status == "succeeded"]

    @property
    def failed(self) -> list[JobReport]:
        return [r for r in self if r.status == "failed"]

    @property
    def waiting(self) -> list[JobReport]:
        return [r for r in self if r.status == "waiting"]

    @property
    def exit_code(self) -> int:
        """What `pgqtop --headless --burst` would have exited with."""
        return self.burst.exit_code()

    @property
    def paused_left(self) -> dict[str, int]:
        return self.burst.paused_left

    def assert_all_succeeded(self) -> None:
        """AssertionError describing every job that did not succeed (with tracebacks)."""
        bad = [r for r in self if not r.succeeded]
        if bad:
            raise AssertionError("\n".join(r.describe() for r in bad))
