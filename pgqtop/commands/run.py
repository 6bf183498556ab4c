"""The default command: the console, a headless worker (`--headless`), or the demo (`--demo`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import re
import shlex
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from pgqtop.config import ObjectNames, Settings, check_poll_interval, describe_dsn, dsn_given
from pgqtop.errors import ConfigError, UsageError

_ZERO = re.compile(r"0+(?:\.0*)?[smhd]?")

ExtraTask = Callable[[asyncio.Event], Awaitable[None]]

ENGINE_OPTIONS = (
    "batch_size",
    "concurrency",
    "retry_timer",
    "dequeue_timeout",
    "shutdown_grace",
    "lanes",
    "claim_deadline",
    "listen_seats",
)
"""Engine settings the command line may change, each named as its EngineSettings field."""
MAX_JOBS_AT_ONCE = 100_000
"""The most --batch-size and --concurrency may be: more is a typo, not a plan."""
MAX_LANES = 16
"""The most --lanes may be: each lane is a connection."""
MAX_SEATS = 10_000
"""The most --listen-seats may be."""
MAX_SECONDS = 7 * 86400.0
"""The longest --retry-timer, --dequeue-timeout, --shutdown-grace and --refresh: a week."""


def checked_option(option: str, value: float) -> float:
    """An engine option's value, or UsageError naming the flag and the allowed range."""
    flag = "--" + option.replace("_", "-")
    if option == "lanes":
        if not 1 <= value <= MAX_LANES:
            raise UsageError(f"{flag} must be from 1 to {MAX_LANES}, not {value}")
        return value
    if option == "listen_seats":
        if not 0 <= value <= MAX_SEATS:
            raise UsageError(f"{flag} must be from 0 (every worker listens) to {MAX_SEATS}")
        return value
    if option == "claim_deadline" and not (math.isfinite(value) and 0 < value <= 60):
        raise UsageError(f"{flag} must be more than 0 and at most 60 seconds, not {value}")
    if option in ("batch_size", "concurrency"):
        if not 1 <= value <= MAX_JOBS_AT_ONCE:
            raise UsageError(f"{flag} must be from 1 to {MAX_JOBS_AT_ONCE:,}, not {value}")
        return value
    if not math.isfinite(value):
        raise UsageError(f"{flag} must be a finite number of seconds, not {value}")
    if option == "dequeue_timeout" and value <= 0:
        raise UsageError(f"{flag} must be positive")
    if value < 0:
        raise UsageError(f"{flag} must not be negative")
    if value > MAX_SECONDS:
        raise UsageError(f"{flag} must be at most {MAX_SECONDS:g} seconds (a week)")
    return value


def settings_from_args(args: argparse.Namespace, dsn: str | None = None) -> Settings:
    """Settings from the command line: DSN, prefix and engine knobs, each checked."""
    settings = Settings.create(dsn or getattr(args, "dsn", None), getattr(args, "prefix", None))
    changes: dict[str, Any] = {}
    for option in ENGINE_OPTIONS:
        value = getattr(args, option, None)
        if value is not None:
            changes[option] = checked_option(option, value)
    refresh = getattr(args, "refresh", None)
    if refresh is not None and not (math.isfinite(refresh) and 0 < refresh <= MAX_SECONDS):
        raise UsageError(f"--refresh must be a positive number of seconds, not {refresh}")
    claim = getattr(args, "claim", None)
    if claim is not None:
        changes["claim"] = claim
    if "batch_size" in changes:
        # A flush per dequeued batch keeps both directions at one statement per batch.
        changes.setdefault("flush_size", max(changes["batch_size"], 1))
    settings.engine = dataclasses.replace(settings.engine, **changes)
    settings.read_only = bool(getattr(args, "read_only", False))
    notifications(args, settings)
    keep = getattr(args, "keep_finished", None)
    if keep is not None:
        settings.keep_finished_seconds = parse_retention(keep, "--keep-finished")
    return settings


def notifications(args: argparse.Namespace, settings: Settings) -> None:
    """--listen-dsn, --no-listen and --poll-interval (or a profile's), checked."""
    listen_dsn = getattr(args, "listen_dsn", None)
    listen = getattr(args, "listen", None)
    poll = getattr(args, "poll_interval", None)
    if listen_dsn is not None:
        if not listen_dsn.strip():
            raise UsageError("--listen-dsn is empty: give a connection string, or drop it")
        if listen is False:
            raise UsageError("--listen-dsn and --no-listen contradict each other: drop one")
        settings.listen_dsn = listen_dsn
    if listen is not None:
        settings.listen = bool(listen)
    if poll is not None:
        try:
            settings.poll_interval = check_poll_interval(poll)
        except ConfigError as exc:
            raise UsageError(f"--poll-interval: {exc}") from None


def parse_retention(text: str, flag: str) -> float:
    """Seconds to keep something: a duration such as 1h or 30m, or 0 for not at all."""
    from pgqtop.commands.common import parse_duration

    if _ZERO.fullmatch(text.strip().lower()):
        return 0.0
    try:
        return parse_duration(text)
    except UsageError as exc:
        raise UsageError(f"{flag}: {exc} (or 0 to keep none)") from None


@contextlib.contextmanager
def demo_database(args: argparse.Namespace) -> Iterator[str | None]:
    """The DSN the demo uses: the one given, else an embedded server for the run's lifetime."""
    if getattr(args, "dsn", None) or dsn_given():
        yield None
        return
    from pgqtop.server import embedded_server

    with embedded_server() as dsn:
        yield dsn


def install_schema(settings: Settings) -> None:
    from pgqtop.commands.common import sync_connection
    from pgqtop.db import schema

    with sync_connection(settings, "install") as conn:
        schema.install(conn, settings.names)


def main(args: argparse.Namespace) -> int:
    from pgqtop.engine.logs import setup_logging

    if args.demo and args.factory:
        raise UsageError("--demo brings its own entrypoints: drop --factory")
    if args.headless and not (args.factory or args.demo):
        raise UsageError("--headless needs --factory MODULE:FUNCTION (or --demo)")
    if getattr(args, "burst", False) and (not args.headless or args.demo):
        raise UsageError("--burst needs --headless and --factory (it drains, then exits)")
    if args.headless or args.demo:
        setup_logging(args.log_format, args.log_level)
    if args.demo:
        from pgqtop.commands.common import say

        with demo_database(args) as embedded_dsn:
            settings = settings_from_args(args, embedded_dsn)
            install_schema(settings)
            greeting = (
                f"pgqtop demo on {describe_dsn(settings.dsn)} (prefix {settings.names.prefix}); "
                f"another console: {_shareable(settings)}"
            )
            say(greeting)
            sys.stdout.flush()
            return _dispatch(args, settings, greeting=greeting)
    return _dispatch(args, settings_from_args(args))


def _shareable(settings: Settings) -> str:
    """The command that opens a second console on this database, with no password in it."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = {k: v for k, v in conninfo_to_dict(settings.dsn).items() if k != "password"}
    command = f"{_own_command()} --dsn {shlex.quote(make_conninfo('', **params))}"
    if settings.names.prefix != ObjectNames().prefix:
        command += f" --prefix {settings.names.prefix}"
    return command


def _own_command() -> str:
    """How to run this pgqtop again from another shell: `pgqtop` when that name on PATH is
    this program, else this program's own path (a venv that is not activated), else
    `python -m pgqtop` with this interpreter."""
    import shutil
    from pathlib import Path

    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("pgqtop")
    if found and (here is None or Path(found).resolve() == here):
        return "pgqtop"
    if here is not None and here.name == "pgqtop" and here.is_file():
        return shlex.quote(str(here))
    return f"{shlex.quote(sys.executable)} -m pgqtop"


def _dispatch(args: argparse.Namespace, settings: Settings, greeting: str = "") -> int:
    if getattr(args, "max_memory", None) and not args.headless:
        raise UsageError("--max-memory needs --headless (a console does not exit by itself)")
    if getattr(args, "metrics_port", None) is not None:
        if not args.headless:
            raise UsageError("--metrics-port needs --headless (the console shows its own)")
        if not 0 <= args.metrics_port <= 65535:
            raise UsageError(f"--metrics-port {args.metrics_port} is not a port number")
    if args.headless:
        from pgqtop.commands.headless import run_headless

        return run_headless(args, settings)
    return _console(args, settings, greeting)


def _console(args: argparse.Namespace, settings: Settings, greeting: str = "") -> int:
    from pgqtop.commands.headless import check_schema, prepare_manager
    from pgqtop.tui.app import run_console

    check_schema(settings)
    manager = None
    extra_tasks: list[ExtraTask] = []
    if args.factory or args.demo:
        manager = prepare_manager(args, settings)
    if args.demo:
        from pgqtop.demo import produce

        def producer(stop: asyncio.Event) -> Awaitable[None]:
            return produce(settings, stop)

        extra_tasks.append(producer)
    result: Any = run_console(
        settings,
        manager=manager,
        theme=args.theme,
        read_only=args.read_only,
        refresh=args.refresh,
        extra_tasks=extra_tasks,
        greeting=greeting,
    )
    if manager is not None:
        from pgqtop.commands.headless import exit_if_threads_stranded

        exit_if_threads_stranded(manager, int(result or 0))
    return int(result or 0)
