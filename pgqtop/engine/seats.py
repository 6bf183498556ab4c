"""How many workers of a fleet keep a LISTEN connection: a few seats, the rest on standby.

PostgreSQL wakes every listening session of a database for every NOTIFY committed in it, on
whatever channel, and each woken session's worker then reads the notification. With a hundred
listening workers each enqueue statement costs a hundred such wakes, and on a small server that
fan-out, not the dequeues, sets the pace of the whole fleet.

So at most `seats` workers hold a LISTEN: those with the lowest ids among the live, running
workers that are willing to listen and serve every entrypoint this one serves (any of them
covers its jobs). A worker learns how many are ahead of it from each heartbeat. The others are
on standby: they look every poll interval, and look again at once while their looks fill whole
batches, so under load the whole fleet works while only a few workers listen. When a
seat holder stops (its row goes) or falls silent past the alive window, the next worker takes
the seat at its next heartbeat. `seats = 0` lets every willing worker listen.
"""

from __future__ import annotations

from collections.abc import Callable

from pgqtop.config import EngineSettings
from pgqtop.engine.timing import beat_interval

LISTEN = "listen"
"""Holds a seat: new work arrives by NOTIFY."""
STANDBY = "standby"
"""Willing to listen, but enough workers ahead of it do: it polls."""
POLL = "poll"
"""Told not to listen (`--no-listen`): it polls and never takes a seat."""

ALIVE_BEATS = 3
"""Heartbeat intervals of silence after which a worker no longer keeps its seat from others."""


def alive_window(engine: EngineSettings) -> float:
    """Seconds since another worker's last heartbeat within which it still counts as alive."""
    return ALIVE_BEATS * beat_interval(engine)


class Seat:
    """This worker's place among the fleet's LISTEN seats.

    `on_change(True)` asks the owner to start listening, `on_change(False)` to stop; called only
    when the decision changes."""

    def __init__(self, seats: int, willing: bool, on_change: Callable[[bool], None]) -> None:
        self.seats = seats
        self.willing = willing
        self.on_change = on_change
        self.held = False

    @property
    def wake(self) -> str:
        """What the registry shows for this worker."""
        if not self.willing:
            return POLL
        return LISTEN if self.held else STANDBY

    def placed(self, ahead: int) -> None:
        """A heartbeat counted `ahead` live workers before this one: take or give up the seat."""
        held = self.willing and (self.seats <= 0 or ahead < self.seats)
        if held != self.held:
            self.held = held
            self.on_change(held)
