"""Fleet control from the command line: pause and resume entrypoints, list the workers and
the schedules."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from typing import Any

from pgqtop import operations
from pgqtop.commands.common import (
    format_time,
    parse_duration,
    print_json,
    print_table,
    say,
    session,
    settings_from,
    warn,
    where,
)
from pgqtop.config import Settings
from pgqtop.errors import PgqtopError, UsageError
from pgqtop.humanize import duration
from pgqtop.model import ALL_ENTRYPOINTS, target_label


class NotPaused(PgqtopError):
    """`resume` of an entrypoint that is not paused: nothing was changed."""

    exit_code = 1


def _target(args: argparse.Namespace, verb: str) -> str:
    """The control key to act on: one entrypoint, or ALL_ENTRYPOINTS for --all."""
    if args.all and args.entrypoint:
        raise UsageError(f"{verb}: give an entrypoint or --all, not both")
    if args.all:
        return ALL_ENTRYPOINTS
    if not args.entrypoint:
        raise UsageError(f"{verb}: name an entrypoint, or use --all")
    if args.entrypoint == ALL_ENTRYPOINTS:
        raise UsageError(f"{verb}: {ALL_ENTRYPOINTS!r} is not an entrypoint name; use --all")
    return str(args.entrypoint)


# --- pause --------------------------------------------------------------------------------------


def pause(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    target = _target(args, "pause")
    seconds = parse_duration(args.duration) if args.duration else None
    done = asyncio.run(_pause(settings, target, seconds, args.reason))
    if not done.known:
        warn(f"no jobs or workers know entrypoint {target!r} yet; pausing it anyway")
    what = target_label(target, quoted=True)
    until = f" for {duration(seconds)}" if seconds else " until resumed"
    reason = f" ({done.reason})" if done.reason else ""
    say(f"paused {what}{until} by {done.by}{reason} in {where(settings)}")
    return 0


async def _pause(
    settings: Settings, target: str, seconds: float | None, reason: str
) -> operations.Paused:
    async with session(settings, "pause") as queries:
        return await operations.pause(queries, target, seconds=seconds, reason=reason)


# --- resume -------------------------------------------------------------------------------------


def resume(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    target = _target(args, "resume")
    if target == ALL_ENTRYPOINTS:
        lifted = asyncio.run(_resume_all(settings, args.reason))
        say(f"resumed {lifted} paused entrypoint(s) in {where(settings)}")
        return 0
    done = asyncio.run(_resume(settings, target, args.reason))
    if not done.lifted:
        raise NotPaused(f"{target!r} is not paused: nothing to resume")
    say(f"resumed {target!r} in {where(settings)}")
    if done.still_paused_all:
        warn("every entrypoint is still paused by `pause --all`; `pgqtop resume --all` lifts it")
    return 0


async def _resume(settings: Settings, target: str, reason: str) -> operations.Resumed:
    async with session(settings, "resume") as queries:
        return await operations.resume(queries, target, reason=reason)


async def _resume_all(settings: Settings, reason: str) -> int:
    async with session(settings, "resume") as queries:
        return await operations.resume_all(queries, reason=reason)


# --- workers ------------------------------------------------------------------------------------


def worker_record(load: operations.WorkerLoad, stale_after: float) -> dict[str, Any]:
    """A worker as `workers --json` shows it: its registry row, whether it is stale, its short
    id, and the jobs it holds (picked rows with its id), longest running first."""
    return {
        **dataclasses.asdict(load.worker),
        "stale": load.worker.heartbeat_age > stale_after,
        "short_id": load.short_id,
        "in_flight_jobs": [
            {
                "id": job.id,
                "entrypoint": job.entrypoint,
                "started": job.started,
                "running_seconds": job.running_seconds,
            }
            for job in load.jobs
        ],
        "longest_running_seconds": load.longest_running_seconds,
    }


def workers(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    found = asyncio.run(_workers(settings))
    stale_after = settings.engine.worker_stale_after
    records = [worker_record(load, stale_after) for load in found]
    if args.json:
        print_json({"stale_after_seconds": stale_after, "workers": records})
        return 0
    if not records:
        say(f"no workers registered in {where(settings)}")
        return 0
    print_table(
        (
            "WORKER",
            "HOST",
            "PID",
            "VERSION",
            "ENTRYPOINTS",
            "CONC",
            "IN-FLIGHT",
            "DONE",
            "FAILED",
            "STARTED",
            "HEARTBEAT",
            "LONGEST",
            "WAKE",
            "STATE",
        ),
        [
            (
                r["short_id"],
                r["host"],
                r["pid"],
                r["version"],
                ",".join(r["entrypoints"]) or "-",
                r["concurrency"],
                r["in_flight"],
                r["processed"],
                r["failed"],
                format_time(r["started"]),
                f"{duration(r['heartbeat_age'])} ago",
                duration(r["longest_running_seconds"]),
                r["wake"],
                "stale" if r["stale"] else r["state"],
            )
            for r in records
        ],
    )
    return 0


async def _workers(settings: Settings) -> list[operations.WorkerLoad]:
    async with session(settings, "workers") as queries:
        return await operations.worker_loads(queries)


# --- schedules ----------------------------------------------------------------------------------


def schedules(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    found = asyncio.run(_schedules(settings))
    if args.json:
        print_json({"schedules": [dataclasses.asdict(s) for s in found]})
        return 0
    if not found:
        say(f"no schedules in {where(settings)}")
        return 0
    print_table(
        ("ENTRYPOINT", "SCHEDULE", "NEXT RUN", "LAST RUN"),
        [
            (
                s.entrypoint,
                s.expression,
                f"{format_time(s.next_run)} ({_until(s.due_in_seconds)})",
                format_time(s.last_run) if s.last_run else "never",
            )
            for s in found
        ],
    )
    return 0


def _until(seconds: float) -> str:
    return f"in {duration(seconds)}" if seconds > 0 else f"due {duration(-seconds)} ago"


async def _schedules(settings: Settings) -> list[Any]:
    async with session(settings, "schedules") as queries:
        return list(await queries.schedules())
