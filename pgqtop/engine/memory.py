"""The worker's resident memory, and the `--max-memory` limit past which it drains and exits.

A handler that leaks makes its worker grow until the host runs out; a worker that drains and
exits with a status of its own once it passes a limit is restarted clean by its supervisor
(the same idea as gunicorn's max-requests, measured in bytes instead of requests).
"""

from __future__ import annotations

import os
import re
import resource
import sys

from pgqtop.errors import UsageError

MEMORY_EXIT_STATUS = 75
"""Exit status of a worker that stopped because it passed --max-memory (EX_TEMPFAIL: try
again, which is what a supervisor restarting it does)."""

_STATM = "/proc/self/statm"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
    "t": 1024**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def resident_bytes() -> int:
    """This process's resident set size now, from /proc/self/statm where there is one; else
    the peak from getrusage (the best the platform offers: it never goes down)."""
    try:
        with open(_STATM, encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB else


def parse_size(text: str) -> int:
    """Bytes from a size such as `512MB`, `2GiB`, `300m` or `1000000`: kB/MB/GB are powers of
    1000, KiB/MiB/GiB and the one-letter k/m/g powers of 1024; UsageError otherwise."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise UsageError(f"--max-memory {text!r}: give a size such as 512MB or 2GiB")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise UsageError(f"--max-memory {text!r} must be more than nothing")
    return size


def describe_size(size: int) -> str:
    """A size for a log line, in MiB."""
    return f"{size / 1024**2:.0f} MiB"
