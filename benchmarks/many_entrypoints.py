"""A factory of many no-op entrypoints (`--factory benchmarks.many_entrypoints:register`):
noop_0 .. noop_{N-1}, N from PGQTOP_BENCH_ENTRYPOINTS (default 10)."""

from __future__ import annotations

import os

from pgqtop import Job, QueueManager


def names(count: int) -> list[str]:
    return [f"noop_{i}" for i in range(count)]


def register(qm: QueueManager) -> None:
    async def noop(job: Job) -> None:
        return None

    for name in names(int(os.environ.get("PGQTOP_BENCH_ENTRYPOINTS", "10"))):
        qm.entrypoint(name)(noop)
