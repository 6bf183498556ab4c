"""A job, its statuses and how it ended: the shapes the database, the engine and the console
share, with the rules about them that need no database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from collections.abc import Iterable
from typing import Any

from pgqtop.errors import UsageError


class Status(enum.StrEnum):
    """A job's status; the database's enum type has these labels, in this order."""

    QUEUED = "queued"
    PICKED = "picked"
    SUCCESSFUL = "successful"
    EXCEPTION = "exception"
    CANCELED = "canceled"
    DELETED = "deleted"


ALL_STATUSES: tuple[Status, ...] = tuple(Status)
"""Every status in declaration order: the labels of the database's enum type."""
WAITING: tuple[Status, ...] = (Status.QUEUED, Status.PICKED)
"""A job still in the jobs table: waiting to run, or running. Only these may be purged."""
FAILED_OUTCOMES: tuple[Status, ...] = (Status.EXCEPTION, Status.CANCELED)
"""A handler's outcomes that are not a success."""
WORKER_OUTCOMES: tuple[Status, ...] = (Status.SUCCESSFUL, *FAILED_OUTCOMES)
"""How a worker can finish a job: work done, as counted in throughput."""
STATUS_BY_VALUE: dict[str, Status] = {s.value: s for s in Status}
"""A status from its text without an enum call: cheaper, for the once-per-job paths."""


ALL_ENTRYPOINTS = "*"
"""The control key that pauses every entrypoint at once; refused as an entrypoint name."""
RESERVED_NAMES = frozenset({"", ALL_ENTRYPOINTS})
"""Names no entrypoint may have."""


def target_label(target: str, *, quoted: bool = False) -> str:
    """How a control target reads to a person: "every entrypoint", or the entrypoint's name
    (in quotes with `quoted`, as the command line shows names)."""
    if target == ALL_ENTRYPOINTS:
        return "every entrypoint"
    return repr(target) if quoted else target


def is_reserved_name(name: str) -> bool:
    """True for a name no entrypoint may have (empty, or the all-entrypoints marker)."""
    return name in RESERVED_NAMES


def purge_statuses(statuses: Iterable[str] | None) -> list[str]:
    """The statuses a purge deletes: queued unless told otherwise, and only waiting ones."""
    chosen = list(statuses) if statuses else [Status.QUEUED.value]
    for status in chosen:
        if status not in WAITING:
            allowed = ", ".join(WAITING)
            raise UsageError(f"cannot purge status {status!r}: choose from {allowed}")
    return chosen


@dataclasses.dataclass(slots=True)
class Job:
    """One row of the jobs table, as a handler receives it."""

    id: int
    priority: int
    created: dt.datetime
    updated: dt.datetime
    execute_after: dt.datetime
    status: Status
    entrypoint: str
    payload: bytes | None
    headers: dict[str, Any] | None
    attempts: int
    dedupe_key: str | None
    heartbeat: dt.datetime | None = None
    worker_id: uuid.UUID | None = None

    def text(self, encoding: str = "utf-8") -> str | None:
        """The payload decoded as text; raises UnicodeDecodeError when it is not."""
        return None if self.payload is None else self.payload.decode(encoding)

    def json(self) -> Any:
        """The payload parsed as JSON (None when there is no payload)."""
        return None if self.payload is None else json.loads(self.payload)


@dataclasses.dataclass(slots=True)
class Outcome:
    """How a job ended, as the completion buffer records it. One is made per job, so it is
    not frozen: a frozen dataclass's constructor costs four times as much. Treat as read-only."""

    job_id: int
    status: Status
    run_seconds: float
    error: str = ""
    traceback: str = ""
    retry_in: float | None = None
    """Seconds until a retry; None means the outcome is final."""
