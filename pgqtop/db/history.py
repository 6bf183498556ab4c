"""Reading queue history: the rows of a window, put together as one sample per bucket."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pgqtop.db import rows
from pgqtop.db.rows import HistoryRow
from pgqtop.db.session import AsyncSession
from pgqtop.db.statements.history import history_statements
from pgqtop.model.history import HistoryPoint, HistorySample


def assemble(found: Iterable[HistoryRow], entrypoint: str | None = None) -> list[HistorySample]:
    """One sample per bucket, in time order. With `entrypoint`, every sample has that one
    entrypoint, at zero where the sample did not count it (nothing waiting or running)."""
    by_time: dict[dt.datetime, dict[str, HistoryPoint]] = {}
    paused_all: dict[dt.datetime, bool] = {}
    for row in found:
        points = by_time.setdefault(row.at, {})
        paused_all[row.at] = paused_all.get(row.at, False) or bool(row.paused_all)
        if row.entrypoint is not None:
            points[row.entrypoint] = HistoryPoint(
                row.due, row.scheduled, row.picked, row.oldest_due_seconds, row.paused
            )
    samples = []
    for at in sorted(by_time):
        points = by_time[at]
        if entrypoint is not None and entrypoint not in points:
            points[entrypoint] = HistoryPoint(paused=paused_all[at])
        samples.append(HistorySample(at, dict(sorted(points.items())), paused_all[at]))
    return samples


class HistoryReads(AsyncSession):
    """The queue history the workers sampled, as a console or `pgqtop history` reads it."""

    async def queue_history(
        self, window: float, bucket: float | None = None, entrypoint: str | None = None
    ) -> list[HistorySample]:
        """Samples of the last `window` seconds: each one, or one per `bucket` seconds (each
        count the peak of the samples in it); only `entrypoint`'s counts when one is named."""
        params = {"window": window, "bucket": bucket, "entrypoint": entrypoint}
        found = await self._built(
            history_statements(self.names).queue_history, params, rows.HISTORY_ROW
        )
        return assemble(found, entrypoint)
