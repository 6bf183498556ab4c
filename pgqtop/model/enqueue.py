"""What a producer hands in, and the checks it passes before anything reaches the database."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from pgqtop.errors import PayloadTooLarge, PgqtopError, UsageError
from pgqtop.model.payloads import JsonModel, encode_model, is_model_instance

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

PayloadLike: TypeAlias = "bytes | str | Mapping[str, Any] | DataclassInstance | JsonModel | None"
"""A payload as given: bytes as they are, text stored as UTF-8, a dataclass, a pydantic model
or a mapping stored as JSON, or none."""


class DuplicateJob(PgqtopError):
    """An enqueue with the `error` dedupe policy met a waiting job with the same key."""


class OnDuplicate(enum.StrEnum):
    """What to do when a dedupe key is already waiting or running."""

    ERROR = "error"
    SKIP = "skip"
    KEEP_HIGHER_PRIORITY = "keep-higher-priority"


@dataclasses.dataclass(slots=True)
class NewJob:
    """One job to enqueue."""

    entrypoint: str
    payload: PayloadLike = None
    priority: int = 0
    headers: dict[str, Any] | None = None
    execute_after: float = 0.0
    """Delay in seconds from now."""
    dedupe_key: str | None = None


def payload_bytes(payload: PayloadLike) -> bytes | None:
    """The payload as stored: bytes unchanged, text encoded as UTF-8, a model or a mapping as
    JSON."""
    if payload is None or isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, Mapping) or is_model_instance(payload):
        return encode_model(payload)
    raise UsageError(f"cannot enqueue a payload of type {type(payload).__qualname__}")


def is_single_payload(value: object) -> bool:
    """Whether `value` is one payload rather than a list of them (for a batch)."""
    return (
        value is None
        or isinstance(value, bytes | str | bytearray | memoryview | Mapping)
        or is_model_instance(value)
    )


def refuse_oversize(payloads: Sequence[bytes | None], max_payload_bytes: int) -> None:
    """PayloadTooLarge for a batch holding a payload over the limit, naming the largest."""
    largest = max((len(p) for p in payloads if p is not None), default=0)
    if largest > max_payload_bytes:
        raise PayloadTooLarge(
            f"payload of {largest} bytes exceeds the maximum of {max_payload_bytes} bytes"
        )


def dedupe_within_batch(jobs: Sequence[NewJob], policy: OnDuplicate) -> list[NewJob]:
    """One row per dedupe key inside a batch (PostgreSQL cannot upsert a row twice)."""
    if policy is OnDuplicate.ERROR:
        seen: set[str] = set()
        for job in jobs:
            if job.dedupe_key is not None:
                if job.dedupe_key in seen:
                    raise DuplicateJob(f"dedupe key {job.dedupe_key!r} appears twice in one batch")
                seen.add(job.dedupe_key)
        return list(jobs)
    kept: dict[str, NewJob] = {}
    result: list[NewJob] = []
    for job in jobs:
        if job.dedupe_key is None:
            result.append(job)
            continue
        current = kept.get(job.dedupe_key)
        if current is None or (
            policy is OnDuplicate.KEEP_HIGHER_PRIORITY and job.priority > current.priority
        ):
            kept[job.dedupe_key] = job
    return result + list(kept.values())


def as_new_jobs(
    entrypoint: str | Sequence[str],
    payload: PayloadLike | Sequence[PayloadLike],
    priority: int | Sequence[int],
    headers: dict[str, Any] | Sequence[dict[str, Any] | None] | None,
    execute_after: float | Sequence[float],
    dedupe_key: str | Sequence[str | None] | None,
) -> list[NewJob]:
    """Accept single values or parallel lists, like a driver accepts a row or a batch."""
    if isinstance(entrypoint, str):
        return [
            NewJob(
                entrypoint,
                cast(PayloadLike, payload),
                cast(int, priority),
                cast("dict[str, Any] | None", headers),
                cast(float, execute_after),
                cast("str | None", dedupe_key),
            )
        ]
    count = len(entrypoint)

    def spread(value: Any, scalar_types: tuple[type, ...]) -> list[Any]:
        if value is None or isinstance(value, scalar_types):
            return [value] * count
        return as_list(value)

    def as_list(value: Any) -> list[Any]:
        values = list(value)
        if len(values) != count:
            raise UsageError("enqueue lists must all have the same length")
        return values

    payloads = [payload] * count if is_single_payload(payload) else as_list(payload)
    priorities = spread(priority, (int,))
    header_list = spread(headers, (dict,))
    delays = spread(execute_after, (int, float))
    keys = spread(dedupe_key, (str,))
    return [
        NewJob(e, p, pr, h, d, k)
        for e, p, pr, h, d, k in zip(
            entrypoint, payloads, priorities, header_list, delays, keys, strict=True
        )
    ]
