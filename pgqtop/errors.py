"""Errors a user can act on, each rendered as one clear line by the CLI."""

from __future__ import annotations


class PgqtopError(Exception):
    """Base of the errors the CLI prints as one line and exits non-zero on."""

    exit_code = 1


class ConfigError(PgqtopError):
    """Bad settings, a malformed file, an invalid name."""

    exit_code = 2


class UsageError(PgqtopError):
    """The command line asks for something that cannot be done."""

    exit_code = 2


class ConnectionFailed(PgqtopError):
    """The database could not be reached or refused us."""

    exit_code = 3


class SchemaMissing(PgqtopError):
    """pgqtop's tables are not installed (or not at this prefix)."""

    exit_code = 4


class SchemaOutdated(PgqtopError):
    """pgqtop's tables are from an older version and need `pgqtop upgrade`."""

    exit_code = 4


class PayloadTooLarge(PgqtopError):
    """A job payload exceeds the configured maximum."""

    exit_code = 2


class InvalidJob(UsageError):
    """A job handed to enqueue breaks a rule. The message names the argument, with the job's
    index when it came in a batch (`jobs[3].priority: ...`); nothing of the batch was written."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument
        self.problem = problem
