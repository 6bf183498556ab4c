"""Waiting for something to become true: the one way the suite does it.

A test never sleeps a fixed time hoping a background task got there: it polls a condition until
it holds and fails naming what never happened. Limits are generous (machines running the suite
are busy); a test that means to bound how long something takes says so with its own assertion
on the returned seconds, and chooses that bound so that only the behaviour under test can meet
it (say, well below a poll interval that would otherwise explain the result).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

Condition = Callable[[], object]
"""Returns something truthy when done; an awaitable result is awaited first."""


def _failure(within: float, what: str, detail: Callable[[], str] | None) -> AssertionError:
    message = f"timed out after {within:g}s waiting for {what}"
    if detail is not None:
        message += f"; {detail()}"
    return AssertionError(message)


async def eventually(
    condition: Condition,
    within: float,
    what: str,
    *,
    step: float = 0.05,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
    detail: Callable[[], str] | None = None,
) -> float:
    """Poll `condition` until it holds; returns the seconds it took.

    `pause` waits between looks (a Textual pilot's `pause` lets the app process its messages);
    `detail` adds what helps diagnose a timeout (a log tail, the screen) to the failure.
    """
    started = time.monotonic()
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise _failure(within, what, detail)
        await pause(step)


def eventually_sync(
    condition: Callable[[], object],
    within: float,
    what: str,
    *,
    step: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> float:
    """`eventually` for code without an event loop (subprocesses, a terminal, a server)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise _failure(within, what, detail)
        time.sleep(step)
    return time.monotonic() - started
