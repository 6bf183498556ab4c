"""Anyone who can connect can NOTIFY on our channel: garbage is logged and ignored.

Property-based: hypothesis sends arbitrary text, arbitrary JSON and malformed look-alikes of our
events, first to `parse_event` directly, then to a running worker's channel while it works.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pgqtop.config import ObjectNames
from pgqtop.db.producer import Queries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Event, EventParseError, parse_event
from tests.reliability.conftest import fast_settings, remaining_jobs, running
from tests.waiting import eventually

# NOTIFY payloads are text without NUL, shorter than 8000 bytes.
notify_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=300)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=15,
)
look_alikes = st.fixed_dictionaries(
    {"op": json_values | st.sampled_from(["insert", "update", "delete", "cancel", "truncate"])},
    optional={
        "changes": json_values
        | st.dictionaries(
            st.text(max_size=10),
            st.dictionaries(st.text(max_size=10), json_values, max_size=5),
            max_size=5,
        ),
        "entrypoints": json_values | st.lists(st.text(max_size=10), max_size=3),
        "job_ids": json_values,
        "overflow": json_values,
    },
)
garbage = (
    notify_text
    | json_values.map(json.dumps)
    | look_alikes.map(json.dumps)
    | look_alikes.map(lambda d: json.dumps(d)[:-1])
)
# What pg_notify accepts: a payload of 8000 bytes or more is refused by the server, and a
# refused send would make hypothesis shrink it against a live database until the test times out.
sendable = garbage.filter(lambda payload: len(payload.encode("utf-8")) < 8000)


@given(payload=garbage)
@example(payload="")
@example(payload="[" * 50_000)
@example(payload='{"op": "insert", "changes": {"x": {"queued": true}}}')
@example(payload='{"op": "cancel", "job_ids": [1, "2"]}')
@example(payload='{"op": "cancel", "job_ids": [1e400]}')
@example(payload="\udcff")
@settings(max_examples=300, deadline=None)
def test_parse_event_raises_nothing_but_event_parse_error(payload: str) -> None:
    try:
        event = parse_event(payload)
    except EventParseError:
        return
    assert isinstance(event, Event) and isinstance(event.op, str)
    assert all(isinstance(i, int) for i in event.job_ids)
    assert all(isinstance(d, int) for c in event.changes.values() for d in c.values())


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_running_worker_ignores_garbage_on_its_channel_and_keeps_working(
    dsn: str,
    names: ObjectNames,
    aconn: psycopg.AsyncConnection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Only NOTIFY can wake the worker within the test's limits: the poll is 60 s away.
    manager = QueueManager(fast_settings(dsn, names, dequeue_timeout=60.0))
    ran: list[int] = []
    states: list[str] = []

    @manager.entrypoint("steady")
    async def steady(job: Any) -> None:
        ran.append(job.id)

    manager.add_listener(lambda event: states.append(event.state))
    caplog.set_level(logging.WARNING, logger="pgqtop")
    sent: list[str] = []

    def flood() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:

            @given(payload=sendable)
            @settings(
                max_examples=200,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
                database=None,
            )
            def send(payload: str) -> None:
                # The channel a worker listens on (the consoles' carries the same shapes).
                conn.execute("SELECT pg_notify(%s, %s)", (names.work_channel, payload))
                sent.append(payload)

            send()

    async with running(manager):
        queries = Queries(aconn, names)
        enqueued = await queries.enqueue("steady")
        await eventually(lambda: len(ran) == 1, 15, "the first job")
        flooding = asyncio.create_task(asyncio.to_thread(flood))
        while not flooding.done():  # jobs keep flowing while the garbage arrives
            enqueued += await queries.enqueue("steady")
            await asyncio.sleep(0.05)
        await flooding
        enqueued += await queries.enqueue("steady")
        await eventually(
            lambda: sorted(ran) == sorted(enqueued), 15, "every job enqueued during the flood"
        )
        await eventually(lambda: remaining_jobs(dsn, names) == 0, 15, "every outcome written")
        assert manager.state == "running"
    assert len(sent) >= 100
    assert "reconnecting" not in states, "garbage never cost the listener its connection"
    ignored = [r for r in caplog.records if "not ours" in r.getMessage()]
    assert ignored, "the first foreign notification is logged"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
