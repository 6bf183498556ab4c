"""Schema administration: install, upgrade, uninstall, verify, and least-privilege grants."""

from __future__ import annotations

import argparse
import sys

from pgqtop.commands.common import confirm, say, settings_from, sync_connection, where
from pgqtop.commands.progress import progress_bar
from pgqtop.db import grants as grants_sql
from pgqtop.db import schema
from pgqtop.errors import UsageError
from pgqtop.model import printable


def install(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.dry_run:
        print(schema.render(schema.install_statements(settings.names)))
        return 0
    with sync_connection(settings, "install") as conn:
        schema.install(conn, settings.names)
    say(f"pgqtop schema version {schema.SCHEMA_VERSION} installed in {where(settings)}")
    return 0


def upgrade(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.dry_run:
        print(schema.render(schema.install_statements(settings.names)))
        return 0
    steps = len(schema.install_statements(settings.names))
    with (
        sync_connection(settings, "upgrade") as conn,
        progress_bar("upgrading", steps, threshold=0) as advance,
    ):
        before = schema.upgrade(
            conn, settings.names, None if advance is None else lambda done, _: advance(done)
        )
    if before == schema.SCHEMA_VERSION:
        say(f"pgqtop schema already at version {before} in {where(settings)}; repaired if needed")
    else:
        say(
            f"pgqtop schema upgraded from version {before} to {schema.SCHEMA_VERSION} "
            f"in {where(settings)}"
        )
    return 0


def uninstall(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.dry_run:
        print(schema.render(schema.uninstall_statements(settings.names)))
        return 0
    with sync_connection(settings, "uninstall") as conn:
        if schema.installed_version(conn, settings.names) is None:
            say(f"nothing to uninstall: pgqtop is not installed in {where(settings)}")
            return 0
        question = f"drop every pgqtop object and job in {where(settings)}?"
        if not confirm(question, args.yes):
            print("uninstall cancelled", file=sys.stderr)
            return 1
        schema.uninstall(conn, settings.names)
    say(f"pgqtop uninstalled from {where(settings)}")
    return 0


def verify(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.dry_run:
        print("-- verify compares the database with the objects these statements create:")
        print(schema.render(schema.install_statements(settings.names)))
        return 0
    with sync_connection(settings, "verify") as conn:
        if schema.installed_version(conn, settings.names) is None:
            say(f"pgqtop is not installed in {where(settings)}: run `pgqtop install`")
            return 1
        problems = schema.verify(conn, settings.names)
    for problem in problems:
        say(problem)
    if problems:
        print(
            printable(
                f"{len(problems)} problem(s) in {where(settings)}: `pgqtop upgrade` repairs them"
            ),
            file=sys.stderr,
        )
        return 1
    say(f"pgqtop schema version {schema.SCHEMA_VERSION} is complete in {where(settings)}")
    return 0


MAX_ROLE_BYTES = 63
"""PostgreSQL's longest name; a longer one is cut short, which would grant to another role."""


def checked_role(role: str) -> str:
    """A role name the printed GRANTs can carry exactly, or UsageError saying why not."""
    if not role.strip():
        raise UsageError("--role: name the role to grant to")
    if printable(role) != role:
        raise UsageError(
            f"--role {printable(repr(role))}: a role name with control characters cannot be "
            "printed as SQL safely"
        )
    if len(role.encode("utf-8")) > MAX_ROLE_BYTES:
        raise UsageError(
            f"--role: {len(role.encode('utf-8'))} bytes is longer than PostgreSQL's "
            f"{MAX_ROLE_BYTES}-byte names: it would cut the name short and grant to another role"
        )
    return role


def grants(args: argparse.Namespace) -> int:
    """Print the GRANTs for a role. A console role may pause, resume and requeue, not purge."""
    settings = settings_from(args)
    checked_role(args.role)
    say(f"-- pgqtop {args.purpose} role {args.role!r}, prefix {settings.names.prefix}")
    print(schema.render(grants_sql.grant_statements(settings.names, args.role, args.purpose)))
    return 0
