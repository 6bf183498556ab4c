"""`pgqtop audit`: who paused, purged, requeued, cancelled, enqueued or scaled, and why."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses

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
from pgqtop.model.audit import AuditEntry


def audit(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    seconds = parse_duration(args.since)
    entries = asyncio.run(_audit(settings, seconds))
    if args.json:
        print_json([dataclasses.asdict(entry) for entry in entries])
        return 0
    if not entries:
        say(f"no operator actions in the last {duration(seconds)} in {where(settings)}")
        return 0
    print_table(
        ("AT", "ACTION", "ACTOR", "ROLE", "TARGET", "COUNT", "REASON"),
        [
            (
                format_time(e.at),
                e.action,
                e.actor,
                e.role,
                e.target,
                e.count,
                e.reason,
            )
            for e in entries
        ],
    )
    return 0


async def _audit(settings: Settings, seconds: float) -> list[AuditEntry]:
    async with session(settings, "audit") as queries:
        return await operations.audit_log(queries, seconds)
