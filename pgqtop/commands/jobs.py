"""Jobs from the command line: enqueue them, see a snapshot of every queue, purge them."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

from pgqtop.commands.common import (
    confirm,
    format_time,
    print_json,
    print_table,
    session,
    settings_from,
    where,
)
from pgqtop.config import Settings, describe_dsn
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import PauseInfo
from pgqtop.errors import ConfigError, PayloadTooLarge, UsageError
from pgqtop.humanize import duration
from pgqtop.model import (
    ALL_ENTRYPOINTS,
    WORKER_OUTCOMES,
    NewJob,
    OnDuplicate,
    purge_statuses,
)

LIST_IDS_UP_TO = 20
"""Above this many jobs, enqueue prints a count and the id range instead of every id."""

# --- enqueue ------------------------------------------------------------------------------------


def _read_payload(args: argparse.Namespace, limit: int) -> bytes | None:
    if args.payload is not None:
        data: bytes = args.payload.encode("utf-8")
    elif args.payload_file is None:
        return None
    elif args.payload_file == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        path = Path(args.payload_file)
        try:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read payload: {exc.strerror}") from None
    if len(data) > limit:
        raise PayloadTooLarge(
            f"payload is larger than the maximum of {limit} bytes (Settings.max_payload_bytes)"
        )
    return data


def _parse_headers(pairs: list[str] | None) -> dict[str, Any] | None:
    if not pairs:
        return None
    headers: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"malformed header {pair!r}: use KEY=VALUE")
        headers[key.strip()] = value
    return headers


def enqueue(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.count < 1:
        raise UsageError(f"--count must be at least 1, not {args.count}")
    if args.after < 0:
        raise UsageError(f"--after must not be negative, not {args.after}")
    payload = _read_payload(args, settings.max_payload_bytes)
    job = NewJob(
        entrypoint=args.entrypoint,
        payload=payload,
        priority=args.priority,
        headers=_parse_headers(args.header),
        execute_after=args.after,
        dedupe_key=args.dedupe_key,
    )
    policy = OnDuplicate(args.on_duplicate)
    ids = asyncio.run(_enqueue(settings, [job] * args.count, policy))
    if not ids:
        print(f"skipped: a job with dedupe key {args.dedupe_key!r} is already waiting")
    elif len(ids) <= LIST_IDS_UP_TO:
        print("\n".join(str(i) for i in ids))
    else:
        print(f"enqueued {len(ids)} jobs for {args.entrypoint!r} (ids {min(ids)}..{max(ids)})")
    return 0


async def _enqueue(settings: Settings, jobs: list[NewJob], policy: OnDuplicate) -> list[int]:
    async with session(settings, "enqueue") as queries:
        return await queries.enqueue_jobs(jobs, on_duplicate=policy)


# --- status -------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class EntrypointStatus:
    entrypoint: str
    queued: int = 0
    picked: int = 0
    failed_last_hour: int = 0
    oldest_queued_seconds: float | None = None
    completed_last_minute: int = 0
    paused: dict[str, Any] | None = None


def _pause_record(pause: PauseInfo) -> dict[str, Any]:
    return {
        "by": pause.paused_by,
        "reason": pause.reason,
        "since": pause.paused_at,
        "until": pause.paused_until,
    }


async def _snapshot(
    queries: ConsoleQueries,
) -> tuple[list[EntrypointStatus], dict[str, Any] | None]:
    rows: dict[str, EntrypointStatus] = {}

    def row(name: str) -> EntrypointStatus:
        return rows.setdefault(name, EntrypointStatus(name))

    for count in await queries.queue_counts():
        entry = row(count.entrypoint)
        if count.status == "queued":
            entry.queued = count.count
            entry.oldest_queued_seconds = count.oldest_seconds
        elif count.status == "picked":
            entry.picked = count.count
    for (name, status), n in (await queries.recent_outcomes(60.0)).items():
        if status in WORKER_OUTCOMES:
            row(name).completed_last_minute += n
    for name, n in (await queries.failures_since(3600.0)).items():
        row(name).failed_last_hour = n
    paused_all = None
    for pause in await queries.paused():
        if pause.entrypoint == ALL_ENTRYPOINTS:
            paused_all = _pause_record(pause)
        else:
            row(pause.entrypoint).paused = _pause_record(pause)
    return sorted(rows.values(), key=lambda e: e.entrypoint), paused_all


def _pause_cell(entry: EntrypointStatus, paused_all: dict[str, Any] | None) -> str:
    pause = entry.paused or paused_all
    if pause is None:
        return ""
    scope = "" if entry.paused else " (all)"
    until = f" until {format_time(pause['until'])}" if pause["until"] else ""
    reason = f": {pause['reason']}" if pause["reason"] else ""
    return f"paused{scope} by {pause['by'] or '?'}{until}{reason}"


def status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    entries, paused_all = asyncio.run(_status(settings))
    if args.json:
        print_json(
            {
                "database": describe_dsn(settings.dsn),
                "prefix": settings.names.prefix,
                "paused_all": paused_all,
                "entrypoints": [dataclasses.asdict(e) for e in entries],
            }
        )
        return 0
    if paused_all:
        print(f"EVERY ENTRYPOINT IS {_pause_cell(EntrypointStatus('', paused=paused_all), None)}")
    if not entries:
        print(f"no jobs and no recent activity in {where(settings)}")
        return 0
    print_table(
        ("ENTRYPOINT", "QUEUED", "PICKED", "FAILED/1h", "OLDEST", "DONE/1m", "PAUSED"),
        [
            (
                e.entrypoint,
                e.queued,
                e.picked,
                e.failed_last_hour,
                duration(e.oldest_queued_seconds),
                e.completed_last_minute,
                _pause_cell(e, paused_all),
            )
            for e in entries
        ],
    )
    return 0


async def _status(settings: Settings) -> tuple[list[EntrypointStatus], dict[str, Any] | None]:
    async with session(settings, "status") as queries:
        return await _snapshot(queries)


# --- purge --------------------------------------------------------------------------------------


def purge(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    statuses = purge_statuses(args.status)
    return asyncio.run(_purge(settings, args.entrypoint, statuses, args.yes))


async def _purge(
    settings: Settings, entrypoint: str | None, statuses: list[str], assume_yes: bool
) -> int:
    entrypoints = [entrypoint] if entrypoint else None
    scope = f"{'/'.join(statuses)} jobs" + (f" of {entrypoint!r}" if entrypoint else "")
    async with session(settings, "purge") as queries:
        matching = await queries.count_matching(entrypoints, statuses)
        if matching == 0:
            print(f"nothing to purge: no {scope}")
            return 0
        if not confirm(f"delete {matching} {scope}?", assume_yes):
            print("purge cancelled", file=sys.stderr)
            return 1
        deleted = await queries.purge(entrypoints, statuses)
    print(f"purged {deleted} {scope}")
    return 0
