"""The no-op handler the drain benchmark runs (`--factory benchmarks.noop:register`)."""

from __future__ import annotations

from pgqtop import Job, QueueManager


def register(qm: QueueManager) -> None:
    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        return None
