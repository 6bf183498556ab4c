"""The one check every new job passes: hostile values of each argument are refused with
pgqtop's own error naming the argument (and the index in a batch), never a raw Python error."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pgqtop
from pgqtop.errors import InvalidJob, PayloadTooLarge, PgqtopError
from pgqtop.model import (
    MAX_DEDUPE_KEY_LENGTH,
    MAX_DELAY_SECONDS,
    MAX_ENTRYPOINT_LENGTH,
    PRIORITY_MAX,
    PRIORITY_MIN,
    DuplicateJob,
    NewJob,
    OnDuplicate,
    as_new_jobs,
    check_new_jobs,
    dedupe_within_batch,
)

LIMIT = 1024


def refusal(job: NewJob) -> str:
    """The message of the error one bad job is refused with."""
    with pytest.raises(PgqtopError) as refused:
        check_new_jobs([job], LIMIT)
    assert isinstance(refused.value, InvalidJob | PayloadTooLarge)
    return str(refused.value)


circular: dict[str, Any] = {}
circular["self"] = circular
deep: dict[str, Any] = {}
for _ in range(5000):
    deep = {"d": deep}

HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    # entrypoint: text, named, not reserved, storable, bounded
    ("entrypoint", {"entrypoint": 12}, "entrypoint: must be a str, not int"),
    ("entrypoint", {"entrypoint": None}, "entrypoint: must be a str, not NoneType"),
    ("entrypoint", {"entrypoint": b"mail"}, "entrypoint: must be a str, not bytes"),
    ("entrypoint", {"entrypoint": ""}, "invalid entrypoint name ''"),
    ("entrypoint", {"entrypoint": "*"}, "invalid entrypoint name '*'"),
    ("entrypoint", {"entrypoint": "a\x00b"}, "NUL character"),
    ("entrypoint", {"entrypoint": "bad\udcffname"}, "not valid Unicode"),
    ("entrypoint", {"entrypoint": "x" * (MAX_ENTRYPOINT_LENGTH + 1)}, "longer than the maximum"),
    # payload: bytes, str, a mapping or model (as JSON), or None
    (
        "payload",
        {"payload": 12345},
        "payload: must be bytes, str, a mapping, a dataclass, a pydantic model or None, not int",
    ),
    (
        "payload",
        {"payload": ["a"]},
        "payload: must be bytes, str, a mapping, a dataclass, a pydantic model or None, not list",
    ),
    ("payload", {"payload": {"a": object()}}, "payload: cannot be stored as JSON"),
    ("payload", {"payload": "\ud800"}, "payload: text is not valid Unicode"),
    ("payload", {"payload": b"x" * (LIMIT + 1)}, "exceeds the maximum of 1024 bytes"),
    # priority: a 32-bit int, not a bool
    ("priority", {"priority": 2**31}, "priority: 2147483648 is out of range"),
    ("priority", {"priority": 2**32 + 5}, "priority: 4294967301 is out of range"),
    ("priority", {"priority": -(2**31) - 1}, "out of range"),
    ("priority", {"priority": 10**400}, "out of range"),
    ("priority", {"priority": True}, "priority: must be an int, not bool"),
    ("priority", {"priority": 1.5}, "priority: must be an int, not float"),
    ("priority", {"priority": "5"}, "priority: must be an int, not str"),
    ("priority", {"priority": None}, "priority: must be an int, not NoneType"),
    # headers: a JSON-serialisable dict, or None
    ("headers", {"headers": {"x": object()}}, "headers: cannot be stored as JSON"),
    ("headers", {"headers": {"x": math.nan}}, "headers: cannot be stored as JSON"),
    ("headers", {"headers": {"x": math.inf}}, "headers: cannot be stored as JSON"),
    ("headers", {"headers": {("a", "b"): 1}}, "headers: cannot be stored as JSON"),
    ("headers", {"headers": circular}, "headers: cannot be stored as JSON"),
    ("headers", {"headers": deep}, "headers: cannot be stored as JSON: nested too deeply"),
    ("headers", {"headers": {"x": "a\x00b"}}, "jsonb does not allow a NUL character"),
    (
        "headers",
        {"headers": {"x": "\udcff"}},
        "headers: cannot be stored as JSON: text that is not valid",
    ),
    ("headers", {"headers": ["a"]}, "headers: must be a dict or None, not list"),
    ("headers", {"headers": "{}"}, "headers: must be a dict or None, not str"),
    ("headers", {"headers": {"x": "y" * LIMIT}}, "bytes of JSON exceed the maximum of 1024 bytes"),
    # execute_after: finite, non-negative, at most ten years
    ("execute_after", {"execute_after": 1e300}, "more than the maximum"),
    ("execute_after", {"execute_after": math.inf}, "execute_after: must be finite"),
    ("execute_after", {"execute_after": -math.inf}, "execute_after: must be finite"),
    ("execute_after", {"execute_after": math.nan}, "execute_after: must be finite"),
    ("execute_after", {"execute_after": -1}, "execute_after: must not be negative"),
    ("execute_after", {"execute_after": 10**400}, "execute_after: must be finite"),
    ("execute_after", {"execute_after": "10"}, "must be a number of seconds"),
    ("execute_after", {"execute_after": True}, "must be a number of seconds"),
    ("execute_after", {"execute_after": None}, "must be a number of seconds"),
    # dedupe_key: str or None
    ("dedupe_key", {"dedupe_key": 5}, "dedupe_key: must be a str or None, not int"),
    ("dedupe_key", {"dedupe_key": b"k"}, "dedupe_key: must be a str or None, not bytes"),
    ("dedupe_key", {"dedupe_key": "k\x00"}, "dedupe_key: dedupe key 'k\\x00' contains a NUL"),
    ("dedupe_key", {"dedupe_key": "\udcff"}, "not valid Unicode"),
    ("dedupe_key", {"dedupe_key": "k" * (MAX_DEDUPE_KEY_LENGTH + 1)}, "longer than"),
]


@pytest.mark.parametrize(
    ("argument", "fields", "message"),
    HOSTILE,
    ids=[f"{argument}-{i}" for i, (argument, _, _) in enumerate(HOSTILE)],
)
def test_each_hostile_value_is_refused_naming_its_argument(
    argument: str, fields: dict[str, Any], message: str
) -> None:
    text = refusal(NewJob(**{"entrypoint": "mail", **fields}))
    assert text.startswith(f"{argument}: ") and message in text
    assert "\n" not in text


def test_in_a_batch_the_refusal_names_the_index_of_the_job() -> None:
    jobs = [NewJob("mail") for _ in range(5)]
    jobs[3] = NewJob("mail", priority=2**31)
    with pytest.raises(InvalidJob) as refused:
        check_new_jobs(jobs, LIMIT)
    assert str(refused.value).startswith("jobs[3].priority: 2147483648 is out of range")
    assert (refused.value.argument, refused.value.problem[:10]) == (
        "jobs[3].priority",
        "2147483648",
    )

    with pytest.raises(PayloadTooLarge, match=r"jobs\[7\]\.payload: payload of 1025 bytes"):
        check_new_jobs([*jobs[:3], NewJob("x", b"x" * 1025)], LIMIT, first_index=4)
    with pytest.raises(InvalidJob, match=r"^jobs\[1\]: must be a NewJob, not dict"):
        check_new_jobs([NewJob("a"), {"entrypoint": "b"}], LIMIT)  # type: ignore[list-item]
    with pytest.raises(InvalidJob, match=r"^jobs: must be a list of NewJob, not NewJob"):
        check_new_jobs(NewJob("a"), LIMIT)  # type: ignore[arg-type]


def test_the_error_types_are_pgqtops_and_exported() -> None:
    assert issubclass(pgqtop.InvalidJob, pgqtop.UsageError)
    assert issubclass(pgqtop.InvalidJob, pgqtop.PgqtopError)
    assert pgqtop.InvalidJob.exit_code == 2


class Urgency(enum.IntEnum):
    HIGH = 10


def test_values_at_the_edges_are_accepted_and_normalised() -> None:
    jobs = [
        NewJob("a", b"raw", PRIORITY_MAX, {"n": [1, 2.5, None, "é"]}, MAX_DELAY_SECONDS, "k"),
        NewJob("b", "tëxt", PRIORITY_MIN, None, 0, None),
        NewJob("c" * MAX_ENTRYPOINT_LENGTH, bytearray(b"ba"), Urgency.HIGH, {}, 1, ""),
        NewJob("d\t\\ ünï 😀", memoryview(b"mv"), 0, None, 0.5, "k" * MAX_DEDUPE_KEY_LENGTH),
    ]
    columns = check_new_jobs(jobs, LIMIT)
    assert columns.priorities == [PRIORITY_MAX, PRIORITY_MIN, 10, 0]
    assert [type(p) for p in columns.priorities] == [int] * 4
    assert columns.payloads == [b"raw", "tëxt".encode(), b"ba", b"mv"]
    assert columns.headers[0] is not None and json.loads(columns.headers[0]) == jobs[0].headers
    assert columns.headers[1:] == [None, "{}", None]
    assert columns.delays == [MAX_DELAY_SECONDS, 0.0, 1.0, 0.5]
    assert [type(d) for d in columns.delays] == [float] * 4
    assert columns.keys == ["k", None, "", "k" * MAX_DEDUPE_KEY_LENGTH]


def test_parallel_lists_of_different_lengths_are_refused_naming_the_argument() -> None:
    with pytest.raises(InvalidJob, match=r"^priority: has 3 values for 2 entrypoints"):
        as_new_jobs(["a", "b"], None, [1, 2, 3], None, 0.0, None)
    with pytest.raises(InvalidJob, match=r"^dedupe_key: has 1 values for 2 entrypoints"):
        as_new_jobs(["a", "b"], None, 0, None, 0.0, ["k"])
    # A scalar of the wrong type is not a list: the value check names it.
    [job] = as_new_jobs(123, 12345, 0, None, 0.0, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidJob, match=r"^entrypoint: must be a str, not int"):
        check_new_jobs([job], LIMIT)
    jobs = as_new_jobs(["a", "b"], b"same", True, {"h": 1}, 0.0, None)  # type: ignore[arg-type]
    assert [j.payload for j in jobs] == [b"same", b"same"]
    with pytest.raises(InvalidJob, match=r"^jobs\[0\]\.priority: must be an int, not bool"):
        check_new_jobs(jobs, LIMIT)


def test_dedupe_within_a_batch_keeps_one_row_per_key_by_policy() -> None:
    jobs = [NewJob("a", dedupe_key="k", priority=1), NewJob("b"), NewJob("c", dedupe_key="k")]
    jobs.append(NewJob("d", dedupe_key="k", priority=5))
    columns = check_new_jobs(jobs, LIMIT)
    assert dedupe_within_batch(columns, OnDuplicate.SKIP).entrypoints == ["b", "a"]
    assert dedupe_within_batch(columns, OnDuplicate.KEEP_HIGHER_PRIORITY).entrypoints == ["b", "d"]
    with pytest.raises(DuplicateJob, match="appears twice"):
        dedupe_within_batch(columns, OnDuplicate.ERROR)
    keyless = check_new_jobs([NewJob("a"), NewJob("b")], LIMIT)
    assert dedupe_within_batch(keyless, OnDuplicate.SKIP) is keyless


# --- property: nothing but pgqtop's errors, and what passes is storable --------------------------

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.binary(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers() | st.floats() | st.text(), max_size=3),
    st.builds(object),
)
FIELDS = ("entrypoint", "payload", "priority", "headers", "execute_after", "dedupe_key")


@settings(max_examples=400, deadline=None)
@given(
    field=st.sampled_from(FIELDS),
    value=anything,
    position=st.integers(min_value=0, max_value=2),
)
def test_any_value_in_any_argument_is_stored_safely_or_refused_by_pgqtop(
    field: str, value: Any, position: int
) -> None:
    jobs = [NewJob("mail") for _ in range(3)]
    jobs[position] = NewJob(**{"entrypoint": "mail", field: value})
    try:
        columns = check_new_jobs(jobs, LIMIT)
    except (InvalidJob, PayloadTooLarge) as refused:
        assert str(refused).startswith(f"jobs[{position}].{field}: ")
        return
    assert all(type(p) is int and PRIORITY_MIN <= p <= PRIORITY_MAX for p in columns.priorities)
    for name in columns.entrypoints:
        assert type(name) is str and name not in ("", "*") and "\x00" not in name
        name.encode("utf-8")
    assert all(p is None or type(p) is bytes for p in columns.payloads)
    for text in columns.headers:
        assert text is None or (isinstance(json.loads(text), dict) and "\\u0000" not in text)
    assert all(type(d) is float and 0 <= d <= MAX_DELAY_SECONDS for d in columns.delays)
    for key in columns.keys:
        assert key is None or (type(key) is str and "\x00" not in key)
