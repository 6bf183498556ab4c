"""Jobs from the command line: enqueue them, see a snapshot of every queue, purge them, and
cancel running ones."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from pgqtop import operations
from pgqtop.commands.common import (
    confirm,
    format_time,
    print_json,
    print_table,
    say,
    session,
    settings_from,
    warn,
    where,
)
from pgqtop.commands.progress import progress_bar
from pgqtop.commands.triage import purge_group
from pgqtop.config import Settings, describe_dsn
from pgqtop.errors import ConfigError, InvalidJob, PayloadTooLarge, UsageError
from pgqtop.humanize import duration, relative
from pgqtop.humanize import forecast as forecast_text
from pgqtop.model import NewJob, OnDuplicate, check_new_jobs, purge_statuses

LIST_IDS_UP_TO = 20
"""Above this many jobs, enqueue prints a count and the id range instead of every id."""
MAX_COUNT = 1_000_000
"""`--count` sends one statement; past this many jobs, load them with enqueue_bulk."""
OPTION_OF_FIELD = {
    "entrypoint": "ENTRYPOINT",
    "payload": "--payload",
    "priority": "--priority",
    "headers": "--header",
    "execute_after": "--after",
    "dedupe_key": "--dedupe-key",
}
"""The command-line option each NewJob field comes from, to name it in a refusal."""


# --- enqueue ------------------------------------------------------------------------------------


def _read_payload(args: argparse.Namespace, limit: int) -> bytes | None:
    if args.payload is not None:
        # The argument's own bytes: UTF-8 text as typed, other bytes as the shell passed them.
        data: bytes = os.fsencode(args.payload)
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
    if args.count > MAX_COUNT:
        raise UsageError(
            f"--count must be at most {MAX_COUNT:,}, not {args.count}: "
            "load more with Queries.enqueue_bulk"
        )
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
    try:
        check_new_jobs([job], settings.max_payload_bytes, indexed=False)
    except InvalidJob as refused:
        raise UsageError(f"{OPTION_OF_FIELD[refused.argument]}: {refused.problem}") from None
    policy = OnDuplicate(args.on_duplicate)
    ids = asyncio.run(_enqueue(settings, [job] * args.count, policy, args.reason))
    if not ids:
        say(f"skipped: a job with dedupe key {args.dedupe_key!r} is already waiting")
    elif len(ids) <= LIST_IDS_UP_TO:
        print("\n".join(str(i) for i in ids))
    else:
        say(f"enqueued {len(ids)} jobs for {args.entrypoint!r} (ids {min(ids)}..{max(ids)})")
    return 0


async def _enqueue(
    settings: Settings, jobs: list[NewJob], policy: OnDuplicate, reason: str
) -> list[int]:
    async with session(settings, "enqueue") as queries:
        with progress_bar("enqueueing", len(jobs)) as advance:
            ids = await operations.enqueue(queries, jobs, policy, reason=reason, progress=advance)
        stale_after = settings.engine.worker_stale_after
        for name in await operations.undeclared(queries, [j.entrypoint for j in jobs], stale_after):
            warn(operations.undeclared_warning(name))
        return ids


# --- status -------------------------------------------------------------------------------------


def _pause_cell(pause: operations.PauseRecord | None, *, of_all: bool = False) -> str:
    if pause is None:
        return ""
    scope = " (all)" if of_all else ""
    until = f" until {format_time(pause.until)}" if pause.until else ""
    reason = f": {pause.reason}" if pause.reason else ""
    return f"paused{scope} by {pause.by or '?'}{until}{reason}"


def status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    found = asyncio.run(_status(settings))
    if args.json:
        print_json(
            {
                "database": describe_dsn(settings.dsn),
                "prefix": settings.names.prefix,
                "paused_all": found.paused_all,
                "entrypoints": [dataclasses.asdict(e) for e in found.entrypoints],
            }
        )
        return 0
    if found.paused_all:
        say(f"EVERY ENTRYPOINT IS {_pause_cell(found.paused_all)}")
    if not found.entrypoints:
        say(f"no jobs and no recent activity in {where(settings)}")
        return 0
    print_table(
        (
            "ENTRYPOINT",
            "DUE",
            "SCHEDULED",
            "PICKED",
            "FAILED/1h",
            "OLDEST",
            "DONE/1m",
            "FORECAST",
            "PAUSED",
        ),
        [
            (
                e.entrypoint,
                e.queued,
                _scheduled_cell(e),
                e.picked,
                e.failed_last_hour,
                duration(e.oldest_queued_seconds),
                e.completed_last_minute,
                _forecast_cell(e.forecast),
                _pause_cell(e.paused) or _pause_cell(found.paused_all, of_all=True),
            )
            for e in found.entrypoints
        ],
    )
    return 0


def _scheduled_cell(entry: operations.EntrypointStatus) -> str:
    if not entry.scheduled:
        return "0"
    return f"{entry.scheduled} ({relative(entry.next_due_seconds)})"


def _forecast_cell(found: operations.ForecastRecord | None) -> str:
    if found is None:
        return "-"
    return forecast_text(found.trend, found.net_rate_per_second, found.clears_in_seconds)


async def _status(settings: Settings) -> operations.Snapshot:
    async with session(settings, "status") as queries:
        return await operations.snapshot(queries)


# --- purge --------------------------------------------------------------------------------------


def purge(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.group is not None:
        if args.entrypoint or args.status:
            raise UsageError(
                "purge: --group deletes failure records; give no entrypoint or --status"
            )
        return purge_group(settings, args.group, args.reason, args.yes)
    statuses = purge_statuses(args.status)
    return asyncio.run(_purge(settings, args.entrypoint, statuses, args.reason, args.yes))


async def _purge(
    settings: Settings,
    entrypoint: str | None,
    statuses: list[str],
    reason: str,
    assume_yes: bool,
) -> int:
    scope = f"{'/'.join(statuses)} jobs" + (f" of {entrypoint!r}" if entrypoint else "")
    async with session(settings, "purge") as queries:
        plan = await operations.plan_purge(queries, [entrypoint] if entrypoint else None, statuses)
        if plan.count == 0:
            say(f"nothing to purge: no {scope}")
            return 0
        if not confirm(f"delete {plan.count} {scope}?", assume_yes):
            print("purge cancelled", file=sys.stderr)
            return 1
        with progress_bar("purging", plan.count) as advance:
            deleted = await operations.execute_purge(queries, plan, reason=reason, progress=advance)
    say(f"purged {deleted} {scope}")
    return 0


# --- cancel -------------------------------------------------------------------------------------


def cancel(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    return asyncio.run(_cancel(settings, list(dict.fromkeys(args.ids)), args.reason, args.yes))


async def _cancel(settings: Settings, ids: list[int], reason: str, assume_yes: bool) -> int:
    async with session(settings, "cancel") as queries:
        plan = await operations.plan_cancel(queries, ids)
        if plan.running == 0:
            say(f"nothing to cancel: {_jobs(ids)} not running")
            return 0
        if not confirm(f"cancel {plan.running} running job(s) ({_jobs(ids)})?", assume_yes):
            print("cancel cancelled", file=sys.stderr)
            return 1
        await operations.cancel_jobs(queries, plan.job_ids, reason=reason)
    say(f"asked every worker to cancel {plan.running} running job(s) in {where(settings)}")
    return 0


def _jobs(ids: list[int]) -> str:
    return ("job " if len(ids) == 1 else "jobs ") + ", ".join(str(i) for i in ids)
