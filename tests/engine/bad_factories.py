"""Factories that go wrong in each way `--factory` must report as one line."""

from __future__ import annotations

from pgqtop import Job, QueueManager

not_callable = 42


def raises(qm: QueueManager) -> None:
    raise RuntimeError("the factory broke\nwith a second line")


def registers_nothing(qm: QueueManager) -> None:
    return None


def registers_one(qm: QueueManager) -> None:
    @qm.entrypoint("only")
    async def only(job: Job) -> None:
        return None
