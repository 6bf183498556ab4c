"""`pgqtop history`: since when a queue is behind, from the samples the workers take."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math

from pgqtop import operations
from pgqtop.commands.common import (
    format_time,
    parse_duration,
    print_json,
    print_table,
    say,
    session,
    settings_from,
    where,
)
from pgqtop.config import Settings
from pgqtop.humanize import duration
from pgqtop.model.history import HistorySample

DEFAULT_SINCE = "1h"
TABLE_ROWS = 60
"""The table shows at most about this many lines: each the peak of its stretch of time."""
SAMPLE_SECONDS = 10.0
"""The workers' sampling interval by default: no line of the table is finer than this."""


def history(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    seconds = parse_duration(args.since)
    name: str | None = args.entrypoint
    if args.json:
        samples = asyncio.run(_history(settings, seconds, name, None))
        print_json([as_record(sample) for sample in samples])
        return 0
    bucket = stretch(seconds)
    samples = asyncio.run(_history(settings, seconds, name, bucket))
    what = repr(name) if name else "every entrypoint"
    if not samples:
        say(
            f"no queue history for the last {duration(seconds)} in {where(settings)}: "
            "workers take the samples (every 10s by default)"
        )
        return 0
    say(f"queue history of {what}, the peak of every {duration(bucket)}")
    print_table(
        ("TIME", "DUE", "SCHEDULED", "PICKED", "OLDEST DUE", "PAUSED"),
        [_row(sample) for sample in samples],
    )
    return 0


def stretch(seconds: float) -> float:
    """Seconds each table line covers: whole minutes (or the sample interval) so that a window
    fills at most about TABLE_ROWS lines."""
    wanted = seconds / TABLE_ROWS
    if wanted <= SAMPLE_SECONDS:
        return SAMPLE_SECONDS
    return 60.0 * math.ceil(wanted / 60.0)


def _row(sample: HistorySample) -> tuple[object, ...]:
    total = sample.total()
    return (
        format_time(sample.at),
        total.due,
        total.scheduled,
        total.picked,
        duration(total.oldest_due_seconds),
        "paused" if total.paused else "",
    )


def as_record(sample: HistorySample) -> dict[str, object]:
    """A sample as `--json` prints it: its time, the totals, and each entrypoint's counts."""
    return {
        "at": sample.at,
        **dataclasses.asdict(sample.total()),
        "entrypoints": {name: dataclasses.asdict(p) for name, p in sample.entrypoints.items()},
    }


async def _history(
    settings: Settings, seconds: float, name: str | None, bucket: float | None
) -> list[HistorySample]:
    async with session(settings, "history") as queries:
        return await operations.history(queries, seconds, entrypoint=name, bucket=bucket)
