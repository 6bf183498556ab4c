"""Handler of the latency benchmark: records enqueue-to-start delay of every job, and writes
them to $PGQTOP_LATENCY_FILE when the worker exits."""

from __future__ import annotations

import atexit
import os
import time
from pathlib import Path

from pgqtop import Job, QueueManager

_delays: list[float] = []


def _write() -> None:
    target = os.environ.get("PGQTOP_LATENCY_FILE")
    if target:
        Path(target).write_text("\n".join(f"{d:.6f}" for d in _delays))


def register(qm: QueueManager) -> None:
    atexit.register(_write)

    @qm.entrypoint("latency")
    async def latency(job: Job) -> None:
        _delays.append(time.time() - job.created.timestamp())
