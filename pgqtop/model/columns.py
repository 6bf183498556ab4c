"""A batch of new jobs as the columns the jobs table takes, every value checked first.

This is the one place the rules for a new job live; every way in (`enqueue`, `enqueue_jobs`,
`enqueue_bulk`, sync or async, the CLI and the console through the operations) goes through
`check_new_jobs`. A value the database would refuse, or worse silently change (a priority of
2**31 copied in binary wraps round to -2**31), is refused here with pgqtop's own error naming
the argument, and the index of the job in a batch, before anything is sent. The common case
costs a few passes over each column: the per-value checks run only on distinct values or
when a fast check fails.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pgqtop.errors import InvalidJob, PayloadTooLarge
from pgqtop.model.enqueue import DuplicateJob, NewJob, OnDuplicate
from pgqtop.model.job import ALL_ENTRYPOINTS
from pgqtop.model.payloads import encode_model, is_model_instance

PRIORITY_MIN = -(2**31)
PRIORITY_MAX = 2**31 - 1
"""A priority is the jobs table's `integer`: 32 bits, signed."""
MAX_ENTRYPOINT_LENGTH = 255
"""Characters in an entrypoint name (at most 1,020 bytes of UTF-8, well inside an index row)."""
MAX_DEDUPE_KEY_LENGTH = 512
"""Characters in a dedupe key (at most 2,048 bytes of UTF-8: its unique index takes 2,704)."""
MAX_DELAY_SECONDS = 10 * 366 * 86400.0
"""Ten years: a longer `execute_after` is a mistake in units, not a plan."""

_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""A NUL character inside a JSON string, as json.dumps escapes it (jsonb cannot hold one)."""


@dataclasses.dataclass(slots=True)
class JobColumns:
    """Checked values of a batch, one list per column, ready for the enqueue statement."""

    priorities: list[int]
    entrypoints: list[str]
    payloads: list[bytes | None]
    headers: list[str | None]
    """Each job's headers as JSON text, or None."""
    delays: list[float]
    """Seconds from now until the job may run."""
    keys: list[str | None]

    def __len__(self) -> int:
        return len(self.entrypoints)

    def subset(self, rows: Sequence[int]) -> JobColumns:
        """These rows of the batch, in this order."""
        return JobColumns(*([values[i] for i in rows] for values in self.lists()))

    def lists(self) -> tuple[list[Any], ...]:
        return (
            self.priorities,
            self.entrypoints,
            self.payloads,
            self.headers,
            self.delays,
            self.keys,
        )


class _Labels:
    """How a refusal names the value: `priority` alone, or `jobs[3].priority` in a batch."""

    def __init__(self, indexed: bool, first_index: int) -> None:
        self.indexed = indexed
        self.first_index = first_index

    def __call__(self, field: str, row: int) -> str:
        return f"jobs[{self.first_index + row}].{field}" if self.indexed else field


def _kind(value: object) -> str:
    return type(value).__name__


def _shown(text: str, limit: int = 40) -> str:
    """A value for a message: repr (so control characters show escaped), cut short."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _text_problem(text: str, what: str, limit: int) -> str | None:
    """Why a name or key cannot be stored as text, or None when it can."""
    if len(text) > limit:
        return f"{what} of {len(text)} characters is longer than the maximum of {limit}"
    if "\x00" in text:
        return f"{what} {_shown(text)} contains a NUL character, which text cannot hold"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return f"{what} {_shown(text)} is not valid Unicode (a lone surrogate)"
    return None


def _entrypoint_problem(name: str) -> str | None:
    if name == "":
        return "invalid entrypoint name '': an entrypoint needs a name"
    if name == ALL_ENTRYPOINTS:
        return f"invalid entrypoint name {name!r}: it stands for every entrypoint in pauses"
    return _text_problem(name, "entrypoint name", MAX_ENTRYPOINT_LENGTH)


def _check_texts(
    values: list[Any],
    field: str,
    label: _Labels,
    problem_of: Callable[[str], str | None],
    optional: bool,
) -> list[Any]:
    """Text column check: the type of every value, the rules on each distinct one (names and
    keys repeat across a batch)."""
    if not all(type(v) is str or (optional and v is None) for v in values):
        for row, value in enumerate(values):
            if optional and value is None:
                continue
            if not isinstance(value, str):
                expected = "a str or None" if optional else "a str"
                raise InvalidJob(label(field, row), f"must be {expected}, not {_kind(value)}")
        values = [None if v is None else str(v) for v in values]
    for value in set(values):
        if value is None:
            continue
        problem = problem_of(value)
        if problem is not None:
            raise InvalidJob(label(field, values.index(value)), problem)
    return values


def _check_priorities(values: list[Any], label: _Labels) -> list[int]:
    if all(type(p) is int for p in values) and (
        not values or (min(values) >= PRIORITY_MIN and max(values) <= PRIORITY_MAX)
    ):
        return values
    checked: list[int] = []
    for row, value in enumerate(values):
        if isinstance(value, bool):
            raise InvalidJob(label("priority", row), "must be an int, not bool")
        try:
            number = operator.index(value)
        except TypeError:
            raise InvalidJob(
                label("priority", row), f"must be an int, not {_kind(value)}"
            ) from None
        if not PRIORITY_MIN <= number <= PRIORITY_MAX:
            raise InvalidJob(
                label("priority", row),
                f"{number} is out of range: a priority is a 32-bit integer, "
                f"from {PRIORITY_MIN} to {PRIORITY_MAX}",
            )
        checked.append(number)
    return checked


def _check_delays(values: list[Any], label: _Labels) -> list[float]:
    if all(type(d) is float or type(d) is int for d in values) and all(
        0 <= d <= MAX_DELAY_SECONDS for d in values
    ):
        return [float(d) for d in values]
    checked: list[float] = []
    for row, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidJob(
                label("execute_after", row),
                f"must be a number of seconds (int or float), not {_kind(value)}",
            )
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if not math.isfinite(seconds):
            raise InvalidJob(label("execute_after", row), f"must be finite, not {seconds}")
        if seconds < 0:
            raise InvalidJob(label("execute_after", row), f"must not be negative ({seconds})")
        if seconds > MAX_DELAY_SECONDS:
            raise InvalidJob(
                label("execute_after", row),
                f"{seconds:g} seconds is more than the maximum of {MAX_DELAY_SECONDS:g} "
                "(ten years)",
            )
        checked.append(seconds)
    return checked


def _check_payloads(values: list[Any], label: _Labels, max_bytes: int) -> list[bytes | None]:
    checked: list[bytes | None] = []
    for row, value in enumerate(values):
        if value is None:
            checked.append(None)
            continue
        if type(value) is bytes:
            data = value
        elif isinstance(value, str):
            try:
                data = value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidJob(
                    label("payload", row),
                    "text is not valid Unicode (a lone surrogate); pass bytes for binary data",
                ) from None
        elif isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
        elif isinstance(value, Mapping) or is_model_instance(value):
            try:
                data = encode_model(value)
            except (TypeError, ValueError) as exc:
                raise InvalidJob(
                    label("payload", row), f"cannot be stored as JSON: {exc}"
                ) from None
        else:
            raise InvalidJob(
                label("payload", row),
                "must be bytes, str, a mapping, a dataclass, a pydantic model or None, "
                f"not {_kind(value)}",
            )
        if len(data) > max_bytes:
            raise PayloadTooLarge(
                f"{label('payload', row)}: payload of {len(data)} bytes exceeds the maximum "
                f"of {max_bytes} bytes"
            )
        checked.append(data)
    return checked


def headers_json(headers: object, argument: str, max_bytes: int) -> str:
    """Headers as the JSON text jsonb stores, or InvalidJob saying why they cannot be."""
    if not isinstance(headers, dict):
        raise InvalidJob(argument, f"must be a dict or None, not {_kind(headers)}")
    try:
        text = json.dumps(headers, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise InvalidJob(argument, "cannot be stored as JSON: nested too deeply") from None
    except (TypeError, ValueError) as exc:
        raise InvalidJob(argument, f"cannot be stored as JSON: {exc}") from None
    if _ESCAPED_NUL.search(text):
        raise InvalidJob(argument, "cannot be stored as JSON: jsonb does not allow a NUL character")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidJob(
            argument, "cannot be stored as JSON: text that is not valid Unicode (a lone surrogate)"
        ) from None
    if size > max_bytes:
        raise InvalidJob(
            argument,
            f"cannot be stored: {size} bytes of JSON exceed the maximum of {max_bytes} bytes",
        )
    return text


def _check_headers(values: list[Any], label: _Labels, max_bytes: int) -> list[str | None]:
    texts: dict[int, str] = {}  # by id: one dict object is often shared by a whole batch
    checked: list[str | None] = []
    for row, value in enumerate(values):
        if value is None:
            checked.append(None)
            continue
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = headers_json(value, label("headers", row), max_bytes)
        checked.append(text)
    return checked


def check_new_jobs(
    jobs: Iterable[NewJob],
    max_payload_bytes: int,
    *,
    first_index: int = 0,
    indexed: bool | None = None,
) -> JobColumns:
    """Every job of a batch checked, as columns; InvalidJob (or PayloadTooLarge) naming the
    first bad value otherwise. `indexed` names the job's index in messages (by default when
    the batch holds more than one job); `first_index` is the batch's offset in a larger load."""
    if isinstance(jobs, NewJob) or not isinstance(jobs, Iterable):
        raise InvalidJob("jobs", f"must be a list of NewJob, not {_kind(jobs)}")
    batch = jobs if isinstance(jobs, list) else list(jobs)
    label = _Labels(len(batch) > 1 if indexed is None else indexed, first_index)
    for row, job in enumerate(batch):
        if not isinstance(job, NewJob):
            raise InvalidJob(f"jobs[{first_index + row}]", f"must be a NewJob, not {_kind(job)}")
    return JobColumns(
        priorities=_check_priorities([j.priority for j in batch], label),
        entrypoints=_check_texts(
            [j.entrypoint for j in batch], "entrypoint", label, _entrypoint_problem, False
        ),
        payloads=_check_payloads([j.payload for j in batch], label, max_payload_bytes),
        headers=_check_headers([j.headers for j in batch], label, max_payload_bytes),
        delays=_check_delays([j.execute_after for j in batch], label),
        keys=_check_texts(
            [j.dedupe_key for j in batch],
            "dedupe_key",
            label,
            lambda key: _text_problem(key, "dedupe key", MAX_DEDUPE_KEY_LENGTH),
            True,
        ),
    )


def dedupe_within_batch(columns: JobColumns, policy: OnDuplicate) -> JobColumns:
    """One row per dedupe key inside a batch (PostgreSQL cannot upsert a row twice): under
    `error` a repeated key is refused, under `skip` the first row wins, under
    `keep-higher-priority` the highest priority (the first of equals). Rows without a key
    come first, then one row per key in the order the keys first appear."""
    keys = columns.keys
    if all(k is None for k in keys):
        return columns
    if policy is OnDuplicate.ERROR:
        seen: set[str] = set()
        for key in keys:
            if key is not None:
                if key in seen:
                    raise DuplicateJob(f"dedupe key {key!r} appears twice in one batch")
                seen.add(key)
        return columns
    keyless: list[int] = []
    kept: dict[str, int] = {}
    priorities = columns.priorities
    for row, key in enumerate(keys):
        if key is None:
            keyless.append(row)
            continue
        current = kept.get(key)
        if current is None or (
            policy is OnDuplicate.KEEP_HIGHER_PRIORITY and priorities[row] > priorities[current]
        ):
            kept[key] = row
    return columns.subset(keyless + list(kept.values()))
