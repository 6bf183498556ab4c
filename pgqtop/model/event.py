"""What arrives on the NOTIFY channel, parsed defensively: anyone who can connect can send."""

from __future__ import annotations

import dataclasses
import json

from pgqtop.model.job import STATUS_BY_VALUE


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
    )
