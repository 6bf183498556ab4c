"""The audit trail's rules: a reason's shape, how targets read, and the `audit` event a console
receives (anyone who can connect may NOTIFY on the channel, so it is checked field by field)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from pgqtop.errors import UsageError
from pgqtop.model import EventParseError, parse_event
from pgqtop.model.audit import AuditEntry, check_reason, list_target

ANNOUNCED = {
    "op": "audit",
    "id": 7,
    "at": "2024-05-01T12:00:00.123456+00:00",
    "action": "pause",
    "actor": "ana@ops-1",
    "role": "app_console",
    "target": "mail",
    "count": 1,
    "reason": "smtp down",
}


def test_an_audit_event_carries_the_recorded_action() -> None:
    event = parse_event(json.dumps(ANNOUNCED))
    assert event.op == "audit"
    assert event.audit == AuditEntry(
        id=7,
        at=dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC),
        action="pause",
        actor="ana@ops-1",
        role="app_console",
        target="mail",
        count=1,
        reason="smtp down",
    )
    assert parse_event(json.dumps({"op": "pause", "entrypoints": ["a"]})).audit is None


@pytest.mark.parametrize(
    "change",
    [
        {"id": "7"},
        {"count": True},
        {"count": None},
        {"at": "yesterday"},
        {"at": 5},
        {"actor": None},
        {"reason": ["x"]},
    ],
)
def test_a_malformed_audit_event_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(EventParseError, match="audit"):
        parse_event(json.dumps(ANNOUNCED | change))


def test_a_reason_is_one_trimmed_line_of_at_most_500_characters() -> None:
    assert check_reason("  smtp down ") == "smtp down"
    assert check_reason("x" * 500) == "x" * 500
    with pytest.raises(UsageError, match="500"):
        check_reason("x" * 501)
    with pytest.raises(UsageError, match="one line"):
        check_reason("first\nsecond")


def test_a_target_names_a_few_things_and_counts_the_rest() -> None:
    assert list_target("job", ["4"]) == "job 4"
    assert list_target("job", ["4", "5"]) == "jobs 4, 5"
    assert list_target("job", [str(i) for i in range(1, 13)]) == "jobs 1, 2, 3, 4, 5 and 7 more"
