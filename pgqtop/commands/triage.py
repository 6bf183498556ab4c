"""Failures from the command line: list them or their groups, requeue them (by id, by
entrypoint, by group), and delete the records of a group."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from typing import Any

from pgqtop import operations
from pgqtop.commands.common import (
    confirm,
    format_time,
    parse_duration,
    print_json,
    print_table,
    say,
    session,
    settings_from,
    where,
)
from pgqtop.commands.progress import progress_bar
from pgqtop.config import Settings
from pgqtop.db.rows import FailureGroup, FailureSummary
from pgqtop.errors import UsageError
from pgqtop.model.fingerprint import error_pattern, fingerprint, looks_like_fingerprint

LIST_LIMIT = 100
"""Failures or groups shown at most, newest or largest first."""
ERROR_WIDTH = 60
"""Characters of an error shown in a table; --json has all of it."""


def checked_fingerprint(text: str) -> str:
    """A fingerprint as the user typed it, or one line saying what one looks like."""
    cleaned = text.strip().lower()
    if not looks_like_fingerprint(cleaned):
        raise UsageError(
            f"{text!r} is not a failure group: use the 12-character FINGERPRINT that "
            "`pgqtop failures --group` shows"
        )
    return cleaned


def _clip(text: str, width: int = ERROR_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- failures -----------------------------------------------------------------------------------


def failures(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    seconds = parse_duration(args.since) if args.since else None
    if args.group:
        groups = asyncio.run(_groups(settings, args.entrypoint, seconds))
        if args.json:
            print_json([group_record(g) for g in groups])
            return 0
        return _print_groups(groups, settings)
    found = asyncio.run(_failures(settings, args.entrypoint, seconds))
    if args.json:
        print_json([failure_record(f) for f in found])
        return 0
    if not found:
        say(f"no failures in {where(settings)}")
        return 0
    print_table(
        ("ID", "ENTRYPOINT", "ATTEMPTS", "FINAL", "FAILED AT", "REQUEUED", "GROUP", "ERROR"),
        [
            (
                f.id,
                f.entrypoint,
                f.attempts,
                "yes" if f.final else "retried",
                format_time(f.failed_at),
                format_time(f.requeued_at) if f.requeued_at else "",
                fingerprint(f.entrypoint, error_pattern(f.error)),
                _clip(f.error),
            )
            for f in found
        ],
    )
    return 0


def _print_groups(groups: list[FailureGroup], settings: Settings) -> int:
    if not groups:
        say(f"no failures in {where(settings)}")
        return 0
    print_table(
        (
            "GROUP",
            "ENTRYPOINT",
            "COUNT",
            "FINAL",
            "REQUEUEABLE",
            "FIRST",
            "LAST",
            "SAMPLE",
            "ERROR",
        ),
        [
            (
                g.fingerprint,
                g.entrypoint,
                g.count,
                g.final,
                g.requeueable,
                format_time(g.first_seen),
                format_time(g.last_seen),
                g.sample_id,
                _clip(g.error_pattern),
            )
            for g in groups
        ],
    )
    return 0


def failure_record(failure: FailureSummary) -> dict[str, Any]:
    """A failure as `failures --json` prints it, with the group it belongs to."""
    group = fingerprint(failure.entrypoint, error_pattern(failure.error))
    return {**dataclasses.asdict(failure), "fingerprint": group}


def group_record(group: FailureGroup) -> dict[str, Any]:
    """A group as `failures --group --json` prints it, with its exception's name."""
    return {**dataclasses.asdict(group), "exception": group.exception}


async def _failures(
    settings: Settings, entrypoint: str | None, seconds: float | None
) -> list[FailureSummary]:
    async with session(settings, "failures") as queries:
        return await operations.list_failures(
            queries, entrypoint=entrypoint, seconds=seconds, limit=LIST_LIMIT
        )


async def _groups(
    settings: Settings, entrypoint: str | None, seconds: float | None
) -> list[FailureGroup]:
    async with session(settings, "failures") as queries:
        return await operations.failure_groups(
            queries, entrypoint=entrypoint, seconds=seconds, limit=LIST_LIMIT
        )


# --- requeue ------------------------------------------------------------------------------------


def requeue(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    chosen = [bool(args.ids), args.failures_of is not None, args.group is not None]
    if sum(chosen) != 1:
        raise UsageError("requeue: give failure IDs, --failures-of NAME or --group FINGERPRINT")
    group = checked_fingerprint(args.group) if args.group is not None else None
    ids = list(dict.fromkeys(args.ids)) if args.ids else None
    return asyncio.run(_requeue(settings, ids, args.failures_of, group, args.reason, args.yes))


async def _requeue(
    settings: Settings,
    ids: list[int] | None,
    entrypoint: str | None,
    group: str | None,
    reason: str,
    assume_yes: bool,
) -> int:
    async with session(settings, "requeue") as queries:
        plan = await operations.plan_requeue(queries, entrypoint, ids=ids, fingerprint=group)
        what = plan.target()
        if plan.count == 0:
            say(f"nothing to requeue: no final failures not yet requeued ({what})")
            return 0
        if not confirm(f"requeue {plan.count} failed jobs ({what}) as new jobs?", assume_yes):
            print("requeue cancelled", file=sys.stderr)
            return 1
        with progress_bar("requeueing", plan.count) as advance:
            done = await operations.execute_requeue(queries, plan, reason=reason, progress=advance)
    say(f"requeued {done} failed jobs ({what}) in {where(settings)}")
    return 0


# --- deleting the records of a group ------------------------------------------------------------


def purge_group(settings: Settings, text: str, reason: str, assume_yes: bool) -> int:
    """`pgqtop purge --group FINGERPRINT`: delete the failure records of one group."""
    return asyncio.run(_purge_group(settings, checked_fingerprint(text), reason, assume_yes))


async def _purge_group(settings: Settings, group: str, reason: str, assume_yes: bool) -> int:
    async with session(settings, "purge") as queries:
        plan = await operations.plan_purge_failures(queries, group)
        if plan.group is None:
            say(f"nothing to purge: no failures in group {group}")
            return 0
        question = (
            f"delete the {plan.count} failure records of group {group} "
            f"({plan.group.entrypoint}: {_clip(plan.group.error_pattern, 50)})?"
        )
        if not confirm(question, assume_yes):
            print("purge cancelled", file=sys.stderr)
            return 1
        deleted = await operations.execute_purge_failures(queries, plan, reason=reason)
    say(f"deleted {deleted} failure records of group {group} in {where(settings)}")
    return 0
