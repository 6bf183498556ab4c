"""What a producer hands in: a new job, or parallel lists of them, and the dedupe policy."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from pgqtop.errors import InvalidJob, PgqtopError
from pgqtop.model.payloads import JsonModel

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

PayloadLike: TypeAlias = "bytes | str | Mapping[str, Any] | DataclassInstance | JsonModel | None"
"""A payload as given: bytes (or another bytes-like object) as they are, text stored as UTF-8,
a dataclass, a pydantic model or a mapping stored as JSON, or none."""


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


def _is_batch(value: object) -> bool:
    """A list of values, one per job, rather than one value for every job."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def as_new_jobs(
    entrypoint: str | Sequence[str],
    payload: PayloadLike | Sequence[PayloadLike],
    priority: int | Sequence[int],
    headers: dict[str, Any] | Sequence[dict[str, Any] | None] | None,
    execute_after: float | Sequence[float],
    dedupe_key: str | Sequence[str | None] | None,
) -> list[NewJob]:
    """Accept single values or parallel lists, like a driver accepts a row or a batch. Only
    the shape is checked here (lists of one length); the values are checked with the batch
    (`check_new_jobs`), so a wrong type is reported there, naming its argument."""
    if not _is_batch(entrypoint):
        return [
            NewJob(
                cast(str, entrypoint),
                cast(PayloadLike, payload),
                cast(int, priority),
                cast("dict[str, Any] | None", headers),
                cast(float, execute_after),
                cast("str | None", dedupe_key),
            )
        ]
    entrypoints = list(entrypoint)
    count = len(entrypoints)

    def spread(argument: str, value: Any) -> list[Any]:
        # A mapping, a dataclass or a model is one payload, not a list (none is a Sequence).
        if not _is_batch(value):
            return [value] * count
        values = list(value)
        if len(values) != count:
            raise InvalidJob(argument, f"has {len(values)} values for {count} entrypoints")
        return values

    return [
        NewJob(e, p, pr, h, d, k)
        for e, p, pr, h, d, k in zip(
            entrypoints,
            spread("payload", payload),
            spread("priority", priority),
            spread("headers", headers),
            spread("execute_after", execute_after),
            spread("dedupe_key", dedupe_key),
            strict=True,
        )
    ]
