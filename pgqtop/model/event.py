"""What arrives on the NOTIFY channel, parsed defensively: anyone who can connect can send."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from pgqtop.model.audit import AuditEntry
from pgqtop.model.job import STATUS_BY_VALUE


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """A message from the NOTIFY channel, parsed; `changes` maps entrypoint -> status -> delta."""

    op: str
    changes: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    overflow: bool = False
    entrypoints: tuple[str, ...] = ()
    job_ids: tuple[int, ...] = ()
    audit: AuditEntry | None = None
    """For op `audit`: the operator action just recorded, with who did it."""


class EventParseError(ValueError):
    """A NOTIFY payload that is not one of ours; logged and ignored."""


def parse_event(payload: str) -> Event:
    """Parse a NOTIFY payload, refusing anything that is not shaped like one of ours."""
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
                    or status not in STATUS_BY_VALUE
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
        audit=_audit_entry(data) if op == "audit" else None,
    )


_AUDIT_TEXT = ("action", "actor", "role", "target", "reason")


def _audit_entry(data: dict[str, Any]) -> AuditEntry:
    """The recorded action an `audit` event carries, every field checked."""
    identifier, count, at = data.get("id"), data.get("count"), data.get("at")
    if (
        not isinstance(identifier, int)
        or not isinstance(count, int)
        or _any_bool(identifier, count)
    ):
        raise EventParseError("'audit' event with a bad id or count")
    if not all(isinstance(data.get(name), str) for name in _AUDIT_TEXT):
        raise EventParseError("'audit' event with a missing field")
    try:
        moment = dt.datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise EventParseError("'audit' event with a bad time")
    return AuditEntry(
        id=identifier,
        at=moment,
        action=data["action"],
        actor=data["actor"],
        role=data["role"],
        target=data["target"],
        count=count,
        reason=data["reason"],
    )


def _any_bool(*values: object) -> bool:
    """JSON true and false arrive as bools, which Python counts as ints."""
    return any(isinstance(value, bool) for value in values)
