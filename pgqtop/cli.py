"""Command-line parsing only: every command hands off to a module under pgqtop/commands/."""

from __future__ import annotations

import argparse
import importlib
import io
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from pgqtop import __version__
from pgqtop.config import (
    DEFAULT_PREFIX,
    Profile,
    read_profile,
    resolve_dsn,
    resolve_prefix,
    validate_prefix,
)
from pgqtop.errors import ConfigError, PgqtopError, UsageError
from pgqtop.model import first_line, printable, redact

Handler = Callable[[argparse.Namespace], int]


class CommandLineError(UsageError):
    """argparse refused the command line; `prog` is the command it was parsing."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


RAW_BYTES_ARGUMENTS = frozenset({"payload", "payload_file"})
"""Arguments taken as the bytes given: a payload is bytes, a file name may be any bytes."""
_UNDECODABLE = re.compile("[\ud800-\udfff]")
"""Python keeps the bytes of an argument that is not UTF-8 as lone surrogates."""


class Parser(argparse.ArgumentParser):
    """argparse with pgqtop's manners: a mistake on the command line is one line on stderr
    and exit 2, like every other error (`--help` shows the usage), and main() returns it.
    An argument whose bytes are not UTF-8 text is refused by name, except the payload and its
    file name, which are bytes."""

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(self.prog, message)

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        # A command's arguments are checked by the command's own parser.
        checked = not isinstance(action, argparse._SubParsersAction)
        if checked and action.dest not in RAW_BYTES_ARGUMENTS and _UNDECODABLE.search(arg_string):
            raise argparse.ArgumentError(
                action, f"{printable(repr(arg_string[:60]))} is not valid UTF-8 text"
            )
        return super()._get_value(action, arg_string)


def prefix_argument(text: str) -> str:
    """`--prefix` checked as it is parsed, so a blank one fails before anything else."""
    try:
        return validate_prefix(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--dsn",
        default=argparse.SUPPRESS,
        help="libpq connection string or URL; default: $PGQTOP_DSN, else $DATABASE_URL, "
        "else libpq's PG* variables",
    )
    group.add_argument(
        "--profile",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="use the DSN (and prefix) saved as [profiles.NAME] in config.toml (no passwords "
        "there)",
    )
    group.add_argument(
        "--prefix",
        type=prefix_argument,
        default=argparse.SUPPRESS,
        help="name prefix of pgqtop's tables and channel (default: the profile's, else "
        f"$PGQTOP_PREFIX, else {DEFAULT_PREFIX}; never empty)",
    )


def _notification_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("notifications (workers and the console)")
    group.add_argument(
        "--listen-dsn",
        metavar="DSN",
        help="connection string for the LISTEN connection alone (a session-mode pooler or the "
        "server), when --dsn goes through a transaction-mode pooler; default: --dsn",
    )
    group.add_argument(
        "--no-listen",
        dest="listen",
        action="store_false",
        default=None,
        help="no LISTEN connection: look for new work every --poll-interval instead",
    )
    group.add_argument(
        "--poll-interval",
        type=float,
        metavar="SECONDS",
        help="with --no-listen, on standby (--listen-seats) or on a hot standby: seconds "
        "between looks (default 1)",
    )


def _engine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("worker engine")
    group.add_argument(
        "--factory",
        metavar="MODULE:FUNCTION",
        help="function that registers entrypoints on the QueueManager it receives "
        "(may be async); the module is imported from the current directory or sys.path",
    )
    group.add_argument("--batch-size", type=int, help="jobs taken per dequeue (default 100)")
    group.add_argument(
        "--concurrency", type=int, help="jobs running at once in this process (default 200)"
    )
    group.add_argument(
        "--claim",
        choices=("update", "lock"),
        help="how a batch is taken: update (default) marks each job picked as it is taken; "
        "lock holds the batch by row locks in a short transaction and writes each job once "
        "(less database work per job; see docs/scaling.md)",
    )
    group.add_argument(
        "--lanes",
        type=int,
        metavar="N",
        help="with the lock claim: batches held at once, one connection each (default 2)",
    )
    group.add_argument(
        "--claim-deadline",
        type=float,
        metavar="SECONDS",
        help="with the lock claim: jobs still running this long after the take are marked "
        "picked and the batch's transaction commits (default 0.2)",
    )
    group.add_argument(
        "--listen-seats",
        type=int,
        metavar="N",
        help="at most N workers serving the same entrypoints hold a LISTEN connection; the "
        "others stand by, looking every --poll-interval, and take a seat when one frees "
        "(default 2; 0: every worker listens)",
    )
    group.add_argument(
        "--entrypoint",
        action="append",
        metavar="NAME",
        help="only run these entrypoints of the factory (repeatable)",
    )
    group.add_argument(
        "--retry-timer",
        type=float,
        metavar="SECONDS",
        help="re-take a picked job whose heartbeat is older than this (default 30; 0 disables; "
        "at least 1); workers beat at least three times per retry timer",
    )
    group.add_argument(
        "--dequeue-timeout",
        type=float,
        metavar="SECONDS",
        help="poll at least this often even without notifications (default 5)",
    )
    group.add_argument(
        "--shutdown-grace",
        type=float,
        metavar="SECONDS",
        help="on SIGTERM, let running jobs finish for this long (default 30)",
    )
    group.add_argument(
        "--keep-finished",
        metavar="DURATION",
        help="keep each finished job's end this long for `pgqtop job` (default 1h; 0 keeps none)",
    )
    group.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="with --headless: once the worker's resident memory passes SIZE (e.g. 512MB, "
        "2GiB), drain and exit with status 75 so that a supervisor starts a fresh one",
    )
    group.add_argument(
        "--burst",
        action="store_true",
        help="with --headless: run every job due now (and what handlers enqueue meanwhile), "
        "then exit: 0 done, 1 a job failed for good, 5 due jobs left paused",
    )
    group.add_argument(
        "--burst-fail-exit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --burst: exit 1 when a job ended as a final failure (default: yes)",
    )
    group.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="with --headless: serve Prometheus /metrics and a /healthz probe on this port",
    )
    group.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address for --metrics-port (default 127.0.0.1; 0.0.0.0 in a container)",
    )
    group.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log line format"
    )
    group.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="log verbosity",
    )


def _reason(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", default="", help="why, for the audit trail and other operators")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pgqtop",
        description="A PostgreSQL job queue with a live operator console. Without a command, "
        "opens the console; with --headless, runs a worker without a UI.",
    )
    parser.add_argument("--version", action="version", version=f"pgqtop {__version__}")
    _connection_options(parser)
    _notification_options(parser)
    parser.add_argument(
        "--headless", action="store_true", help="run the worker engine without the console"
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run a built-in demo workload (on an embedded PostgreSQL when no DSN is given)",
    )
    parser.add_argument("--theme", help="console colour theme (see themes/)")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="console: disable every action that writes; the session itself is read-only",
    )
    parser.add_argument(
        "--refresh",
        type=float,
        metavar="SECONDS",
        help="console: seconds between reconciliation queries (default adapts to load)",
    )
    _engine_options(parser)
    parser.set_defaults(handler="pgqtop.commands.run:main")

    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _connection_options(sub)
        sub.set_defaults(handler=handler)
        return sub

    for name, help_text in (
        ("install", "create pgqtop's tables, type, indexes and trigger (idempotent)"),
        ("upgrade", "bring an older pgqtop install forward to this version"),
        ("uninstall", "drop every pgqtop object at this prefix, jobs included"),
        ("verify", "report what is missing or different; exit 1 if anything is"),
    ):
        sub = command(name, f"pgqtop.commands.admin:{name}", help_text)
        sub.add_argument("--dry-run", action="store_true", help="print the SQL without connecting")
        if name == "uninstall":
            sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    enqueue = command("enqueue", "pgqtop.commands.jobs:enqueue", "add jobs to the queue")
    enqueue.add_argument("entrypoint", help="entrypoint name the job is for")
    source = enqueue.add_mutually_exclusive_group()
    source.add_argument(
        "--payload",
        help="payload as given: the argument's bytes (UTF-8 text, or any bytes the shell passes)",
    )
    source.add_argument("--payload-file", metavar="PATH", help="payload from a file; - is stdin")
    enqueue.add_argument("--count", type=int, default=1, help="enqueue N identical jobs")
    enqueue.add_argument("--priority", type=int, default=0, help="higher runs first")
    enqueue.add_argument(
        "--after", type=float, default=0.0, metavar="SECONDS", help="delay before it may run"
    )
    enqueue.add_argument("--dedupe-key", metavar="KEY", help="at most one waiting job per key")
    enqueue.add_argument(
        "--on-duplicate",
        choices=("error", "skip", "keep-higher-priority"),
        default="error",
        help="what to do when the dedupe key is taken",
    )
    enqueue.add_argument("--header", action="append", metavar="KEY=VALUE", help="job header")
    _reason(enqueue)

    status = command("status", "pgqtop.commands.jobs:status", "one snapshot of every entrypoint")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    job = command(
        "job",
        "pgqtop.commands.job:job",
        "what happened to one job: due, picked, each failed attempt, how it ended",
    )
    job.add_argument("job_id", metavar="ID", help="the job's id")
    job.add_argument("--json", action="store_true", help="machine-readable output")

    purge = command(
        "purge", "pgqtop.commands.jobs:purge", "delete waiting jobs, or a failure group's records"
    )
    purge.add_argument("entrypoint", nargs="?", help="only this entrypoint (default: all)")
    purge.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="queued (default) or picked; repeatable",
    )
    purge.add_argument(
        "--group",
        metavar="FINGERPRINT",
        help="instead of jobs, delete the failure records of this group (`failures --group`)",
    )
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _reason(purge)

    requeue = command(
        "requeue", "pgqtop.commands.triage:requeue", "put failed jobs back as new jobs"
    )
    requeue.add_argument("ids", nargs="*", type=int, metavar="ID", help="failure ids")
    requeue.add_argument(
        "--failures-of", metavar="NAME", help="every final failure of this entrypoint"
    )
    requeue.add_argument(
        "--group", metavar="FINGERPRINT", help="every final failure of this failure group"
    )
    requeue.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _reason(requeue)

    cancel = command("cancel", "pgqtop.commands.jobs:cancel", "cancel running jobs")
    cancel.add_argument("ids", nargs="+", type=int, metavar="ID", help="job ids")
    cancel.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _reason(cancel)

    failures = command(
        "failures", "pgqtop.commands.triage:failures", "list failures, or failure groups"
    )
    failures.add_argument(
        "--group",
        action="store_true",
        help="group them by entrypoint and error (numbers, ids and quoted values aside)",
    )
    failures.add_argument("--entrypoint", metavar="NAME", help="only this entrypoint")
    failures.add_argument("--since", metavar="DURATION", help="only this recent, e.g. 1h")
    failures.add_argument("--json", action="store_true", help="machine-readable output")

    history = command(
        "history",
        "pgqtop.commands.history:history",
        "queue depth and oldest wait over time, as the workers sampled them",
    )
    history.add_argument("entrypoint", nargs="?", metavar="NAME", help="only this entrypoint")
    history.add_argument(
        "--since", default="1h", metavar="DURATION", help="how far back (default 1h)"
    )
    history.add_argument("--json", action="store_true", help="every sample, machine-readable")

    audit = command(
        "audit", "pgqtop.commands.audit:audit", "who did what to the queue, when and why"
    )
    audit.add_argument(
        "--since", default="24h", metavar="DURATION", help="how far back (default 24h)"
    )
    audit.add_argument("--json", action="store_true", help="machine-readable output")

    pause = command(
        "pause", "pgqtop.commands.fleet:pause", "stop every worker taking an entrypoint"
    )
    pause.add_argument("entrypoint", nargs="?", help="entrypoint to pause")
    pause.add_argument("--all", action="store_true", help="pause every entrypoint")
    pause.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 90s, 15m, 2h")
    pause.add_argument("--reason", default="", help="shown to other operators")

    resume = command("resume", "pgqtop.commands.fleet:resume", "let workers take it again")
    resume.add_argument("entrypoint", nargs="?", help="entrypoint to resume")
    resume.add_argument("--all", action="store_true", help="resume everything paused")
    _reason(resume)

    workers = command("workers", "pgqtop.commands.fleet:workers", "list registered workers")
    workers.add_argument("--json", action="store_true", help="machine-readable output")

    schedules = command(
        "schedules", "pgqtop.commands.fleet:schedules", "list scheduled entrypoints"
    )
    schedules.add_argument("--json", action="store_true", help="machine-readable output")

    completion = commands.add_parser(
        "completion",
        help="print a shell completion script (see the README for where it goes)",
        description="print a completion script for every pgqtop command and flag, e.g. "
        "`pgqtop completion bash > ~/.local/share/bash-completion/completions/pgqtop`",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="your shell")
    completion.set_defaults(handler="pgqtop.commands.completion:completion")

    grants = command("grants", "pgqtop.commands.admin:grants", "print the GRANTs a role needs")
    grants.add_argument("--role", required=True, help="the role to grant to")
    grants.add_argument(
        "--for",
        dest="purpose",
        required=True,
        choices=("worker", "producer", "console"),
        help="worker: take, finish and record jobs; producer: only add jobs (cannot read "
        "failures); console: read everything, pause/resume, cancel running jobs, requeue "
        "failures and delete failure records, write the audit trail, but NOT delete jobs (no "
        "purge) — grant worker too if its console runs handlers",
    )
    return parser


def _load_handler(path: str) -> Handler:
    module_name, _, function = path.partition(":")
    module = importlib.import_module(module_name)
    handler: Handler = getattr(module, function)
    return handler


BROKEN_PIPE_EXIT = 128 + signal.SIGPIPE
"""What a shell reports for a writer its reader stopped reading (`pgqtop ... | head`)."""
INTERNAL_ERROR_EXIT = 70
"""EX_SOFTWARE: pgqtop itself failed, not the input or the database."""
TRACEBACK_VARIABLE = "PGQTOP_TRACEBACK"
LONGEST_ERROR = 1000
"""Characters of an error line shown; the rest of a line quoting a huge argument is cut."""


def error_line(prefix: str, message: str) -> str:
    """An error as one printable line of reasonable length."""
    shown = printable(message)
    if len(shown) > LONGEST_ERROR:
        shown = f"{shown[:LONGEST_ERROR]}… ({len(shown) - LONGEST_ERROR} more characters)"
    return f"{prefix}: {shown}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and an exit code, never a
    traceback. When the reader of stdout goes away (`| head`), pgqtop stops quietly with the
    exit code a shell gives a process that SIGPIPE ended."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Text a terminal's encoding cannot show is escaped rather than fatal.
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's own exit
        return code
    except BrokenPipeError:
        _discard_stdout()
        return BROKEN_PIPE_EXIT


def _notifications_from_profile(args: argparse.Namespace, profile: Profile) -> None:
    """A profile's listen_dsn, listen and poll_interval, where the command line says nothing."""
    if getattr(args, "listen_dsn", None) is None and profile.listen_dsn is not None:
        args.listen_dsn = profile.listen_dsn
    if getattr(args, "listen", None) is None and profile.listen is not None:
        args.listen = profile.listen
    if getattr(args, "poll_interval", None) is None and profile.poll_interval is not None:
        args.poll_interval = profile.poll_interval


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CommandLineError as exc:
        print(error_line(f"{exc.prog}: error", str(exc)), file=sys.stderr)
        return exc.exit_code
    if not hasattr(args, "dsn"):
        args.dsn = None
    if not hasattr(args, "prefix"):
        args.prefix = None
    try:
        profile_name = getattr(args, "profile", None)
        profile = read_profile(profile_name) if profile_name else None
        if profile is not None and not args.dsn:
            args.dsn = profile.dsn
        if profile is not None:
            _notifications_from_profile(args, profile)
        args.prefix = resolve_prefix(args.prefix, profile.prefix if profile else None)
        return _load_handler(args.handler)(args)
    except PgqtopError as exc:
        message = redact(str(exc), resolve_dsn(args.dsn))
        print(error_line("pgqtop: error", message), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except Exception as exc:
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        message = redact(first_line(exc, typed=True), resolve_dsn(args.dsn))
        hint = f" (set {TRACEBACK_VARIABLE}=1 for the traceback)"
        print(error_line("pgqtop: internal error", message) + hint, file=sys.stderr)
        return INTERNAL_ERROR_EXIT


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so flushing what is left at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


if __name__ == "__main__":
    sys.exit(main())
