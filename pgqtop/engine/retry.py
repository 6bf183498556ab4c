"""How long to wait before trying again: job retries and reconnects share one idea, backoff."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry a failed job until `max_attempts` runs in total, waiting longer each time."""

    max_attempts: int = 3
    backoff: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff < 1.0 or self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("backoff must be >= 1 and delays must not be negative")

    def delay(self, attempts: int) -> float | None:
        """Seconds before the next run after `attempts` runs, or None when none is left."""
        if attempts >= self.max_attempts:
            return None
        exponent = max(attempts - 1, 0)
        return float(min(self.initial_delay * self.backoff**exponent, self.max_delay))


class Backoff:
    """Capped exponential backoff with jitter, so many workers reconnecting do not stampede."""

    def __init__(self, initial: float = 0.1, maximum: float = 10.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._next = initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum)
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._next = self.initial


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass; True when the event was set. Always
    yields to the loop once, even for an event already set, so a caller's loop cannot spin."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def wait_for_any(events: Sequence[asyncio.Event], seconds: float) -> bool:
    """Wait until one of `events` is set or `seconds` pass; True when one was set."""
    if len(events) == 1:
        return await wait_for_event(events[0], seconds)
    if any(event.is_set() for event in events):
        return True
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    return bool(done)
