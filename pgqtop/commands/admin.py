"""Schema administration: install, upgrade, uninstall, verify, and least-privilege grants."""

from __future__ import annotations

import argparse
import sys

from pgqtop.commands.common import confirm, settings_from, sync_connection, where
from pgqtop.commands.progress import progress_bar
from pgqtop.db import grants as grants_sql
from pgqtop.db import schema


def install(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.dry_run:
        print(schema.render(schema.install_statements(settings.names)))
        return 0
    with sync_connection(settings, "install") as conn:
        schema.install(conn, settings.names)
    print(f"pgqtop schema version {schema.SCHEMA_VERSION} installed in {where(settings)}")
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
        print(f"pgqtop schema already at version {before} in {where(settings)}; repaired if needed")
    else:
        print(
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
            print(f"nothing to uninstall: pgqtop is not installed in {where(settings)}")
            return 0
        question = f"drop every pgqtop object and job in {where(settings)}?"
        if not confirm(question, args.yes):
            print("uninstall cancelled", file=sys.stderr)
            return 1
        schema.uninstall(conn, settings.names)
    print(f"pgqtop uninstalled from {where(settings)}")
    return 0


def verify(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.dry_run:
        print("-- verify compares the database with the objects these statements create:")
        print(schema.render(schema.install_statements(settings.names)))
        return 0
    with sync_connection(settings, "verify") as conn:
        problems = schema.verify(conn, settings.names)
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"{len(problems)} problem(s) in {where(settings)}: `pgqtop upgrade` repairs them",
            file=sys.stderr,
        )
        return 1
    print(f"pgqtop schema version {schema.SCHEMA_VERSION} is complete in {where(settings)}")
    return 0


def grants(args: argparse.Namespace) -> int:
    """Print the GRANTs for a role. A console role may pause, resume and requeue, not purge."""
    settings = settings_from(args)
    print(f"-- pgqtop {args.purpose} role {args.role!r}, prefix {settings.names.prefix}")
    print(schema.render(grants_sql.grant_statements(settings.names, args.role, args.purpose)))
    return 0
