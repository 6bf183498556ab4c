"""The typed shapes that travel between the database, the engine and the console."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from collections.abc import Sequence
from typing import Any


class Status(enum.StrEnum):
    QUEUED = "queued"
    PICKED = "picked"
    SUCCESSFUL = "successful"
    EXCEPTION = "exception"
    CANCELED = "canceled"
    DELETED = "deleted"


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


JOB_COLUMNS = tuple(field.name for field in dataclasses.fields(Job))
"""The jobs table's columns in the order of Job's fields, so a row maps on positionally."""

_STATUS_BY_VALUE = {s.value: s for s in Status}
_STATUS_INDEX = JOB_COLUMNS.index("status")


def job_from_row(row: Sequence[Any]) -> Job:
    """Build a Job from a row selected with JOB_COLUMNS. Positional, with a dict lookup for
    the status: this runs once per job taken, and keywords plus an enum call cost 2.5x."""
    if len(row) != len(JOB_COLUMNS):
        raise ValueError(f"a job row has {len(JOB_COLUMNS)} columns, not {len(row)}")
    fields = list(row)
    fields[_STATUS_INDEX] = _STATUS_BY_VALUE[fields[_STATUS_INDEX]]
    return Job(*fields)


PICKED_COLUMNS = tuple(c for c in JOB_COLUMNS if c not in ("status", "heartbeat", "worker_id"))
"""The columns a dequeue returns; the rest are known to the worker that took the job."""


def picked_job_from_row(row: Sequence[Any], worker: uuid.UUID) -> Job:
    """A Job from a dequeued row (PICKED_COLUMNS): status picked, heartbeat = updated (one
    now() set both), held by `worker`."""
    (
        job_id,
        priority,
        created,
        updated,
        execute_after,
        entrypoint,
        payload,
        headers,
        attempts,
        dedupe_key,
    ) = row
    return Job(
        job_id,
        priority,
        created,
        updated,
        execute_after,
        Status.PICKED,
        entrypoint,
        payload,
        headers,
        attempts,
        dedupe_key,
        updated,
        worker,
    )


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


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """A message from the NOTIFY channel, parsed; `changes` maps entrypoint -> status -> delta."""

    op: str
    changes: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    overflow: bool = False
    entrypoints: tuple[str, ...] = ()
    job_ids: tuple[int, ...] = ()


class EventParseError(ValueError):
    """A NOTIFY payload that is not one of ours; logged and ignored."""


def parse_event(payload: str) -> Event:
    """Parse a NOTIFY payload defensively: anyone can NOTIFY on our channel."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise EventParseError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EventParseError("not a JSON object")
    op = data.get("op")
    if not isinstance(op, str):
        raise EventParseError("missing 'op'")
    changes: dict[str, dict[str, int]] = {}
    raw_changes = data.get("changes")
    if raw_changes is not None:
        if not isinstance(raw_changes, dict):
            raise EventParseError("'changes' is not an object")
        for entrypoint, counts in raw_changes.items():
            if not isinstance(counts, dict):
                raise EventParseError("'changes' entry is not an object")
            clean: dict[str, int] = {}
            for status, delta in counts.items():
                if (
                    not isinstance(delta, int)
                    or isinstance(delta, bool)
                    or status not in Status.__members__.values()
                ):
                    raise EventParseError("'changes' holds a bad status or count")
                clean[status] = delta
            changes[str(entrypoint)] = clean
    entrypoints = data.get("entrypoints", [])
    job_ids = data.get("job_ids", [])
    if not isinstance(entrypoints, list) or not all(isinstance(e, str) for e in entrypoints):
        raise EventParseError("'entrypoints' is not a list of names")
    if not isinstance(job_ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in job_ids
    ):
        raise EventParseError("'job_ids' is not a list of ids")
    return Event(
        op=op,
        changes=changes,
        overflow=bool(data.get("overflow", False)),
        entrypoints=tuple(entrypoints),
        job_ids=tuple(job_ids),
    )
