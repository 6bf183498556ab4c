"""Handlers that declare a payload model: the payload is rebuilt and checked before the
handler runs, and the handler receives it as its second argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgqtop.errors import UsageError
from pgqtop.model import Job, is_model_class, payload_decoder


def typed_handler(
    name: str, function: Callable[..., Any], model: type[Any], *, is_async: bool
) -> Callable[[Job], Any]:
    """`function(job, payload)` as a handler of one job: the payload is decoded as `model`
    first, and a payload that does not fit raises PayloadInvalid (a final failure) before
    `function` is called. Async stays async, sync stays sync (it runs in the thread pool)."""
    if not is_model_class(model):
        raise UsageError(
            f"entrypoint {name!r}: payload must be a dataclass or a pydantic model class, "
            f"not {model!r}"
        )
    decode = payload_decoder(model)
    if is_async:

        async def run_async(job: Job) -> Any:
            return await function(job, decode(job.payload))

        return run_async

    def run(job: Job) -> Any:
        return function(job, decode(job.payload))

    return run
