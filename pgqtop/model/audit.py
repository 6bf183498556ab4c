"""The audit trail's plain data: what an operator did, as the caller describes it (`AuditNote`)
and as the database recorded it (`AuditEntry`, with the role, time and count it filled in)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from pgqtop.errors import UsageError

MAX_REASON_LENGTH = 500
"""Characters a reason may have: a sentence for other operators, not a document."""


class Action(enum.StrEnum):
    """Every operator action the trail records."""

    PAUSE = "pause"
    RESUME = "resume"
    PURGE = "purge"
    PURGE_FAILURES = "purge-failures"
    REQUEUE = "requeue"
    CANCEL = "cancel"
    ENQUEUE = "enqueue"
    SCALE = "scale"


@dataclasses.dataclass(frozen=True, slots=True)
class AuditNote:
    """What the caller says about an action; the count, role and time come from the database."""

    action: Action
    actor: str
    """The OS user and host of the process that acts, `user@host`."""
    target: str
    reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded action, as `pgqtop audit` lists it and the channel announces it."""

    id: int
    at: dt.datetime
    action: str
    actor: str
    role: str
    """The database role that acted (`current_user`, filled in by the database)."""
    target: str
    count: int
    reason: str


def check_reason(reason: str) -> str:
    """A reason as it will be stored: one line of at most MAX_REASON_LENGTH characters."""
    cleaned = reason.strip()
    if "\n" in cleaned or "\r" in cleaned:
        raise UsageError("a reason must be one line")
    if len(cleaned) > MAX_REASON_LENGTH:
        raise UsageError(
            f"a reason may have at most {MAX_REASON_LENGTH} characters, not {len(cleaned)}"
        )
    return cleaned


def list_target(noun: str, items: list[str], *, shown: int = 5) -> str:
    """A target naming a few things: `job 4`, `jobs 4, 5, 6`, `jobs 1, 2, 3, 4, 5 and 7 more`."""
    if len(items) == 1:
        return f"{noun} {items[0]}"
    listed = ", ".join(items[:shown])
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return f"{noun}s {listed}{more}"
