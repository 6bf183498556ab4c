"""Free TCP ports for servers the tests start themselves, safe with parallel workers.

A port from `bind(0)` lies in the kernel's ephemeral range: between closing the probe and the
server binding it, any outgoing connection (the suite opens hundreds, from several xdist
workers at once) may be handed that very port. Below the ephemeral range the kernel never
gives a port out by itself, and a random pick makes two workers choosing the same one
unlikely; a server that still loses the race is started again on another port.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANDOM = random.SystemRandom()  # independent of any seeding a test (or hypothesis) does
LOWEST = 10000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _binds(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on, preferably outside the ephemeral range."""
    highest = _ephemeral_start()
    if highest - LOWEST >= 1000:
        for _ in range(200):
            port = _RANDOM.randrange(LOWEST, highest)
            if _binds(port):
                return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        found: int = probe.getsockname()[1]
        return found
