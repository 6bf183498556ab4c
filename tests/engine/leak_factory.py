"""A handler that leaks memory on purpose, for `pgqtop --headless --factory`: each `leak` job
keeps LEAK_BYTES more of it (written to, so it is resident) and takes a moment."""

from __future__ import annotations

import asyncio

from pgqtop import Job, QueueManager

LEAK_BYTES = 20 * 1024 * 1024
HOARD: list[bytes] = []


def register(qm: QueueManager) -> None:
    @qm.entrypoint("leak")
    async def leak(job: Job) -> None:
        HOARD.append(b"\x01" * LEAK_BYTES)
        await asyncio.sleep(0.2)
