"""Every command, run as the shell runs it (the installed `pgqtop` script, bytes for argv),
answers hostile arguments with one line on stderr and a non-zero exit, never a traceback:
bytes that are not UTF-8, values far too long or too large, and a reader that stops early."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from tests.test_cli_admin import UNREACHABLE
from tests.test_cli_prefix import commands
from tests.test_schema import sq

PGQTOP = Path(sys.executable).with_name("pgqtop")
NOT_UTF8 = b"bad\xff\xfename"
HUGE_TEXT = b"x" * 100_000
HUGE_NUMBER = b"9" * 5_000
HUGE_HOST = b"host=" + b"a" * 10_000

REQUIRED: dict[str, list[bytes]] = {
    "enqueue": [b"job"],
    "grants": [b"--role", b"app", b"--for", b"producer"],
}
"""What a command cannot parse without; the others need nothing."""

GENERIC: list[list[bytes]] = [
    [b"--dsn", b"host=" + NOT_UTF8],
    [b"--dsn", HUGE_HOST],
]
"""Hostile in the options every command has (the prefix and profile have their own tests:
tests/test_cli_prefix.py); one process each, since the first refusal ends a run."""

SPECIFIC: dict[str, list[list[bytes]]] = {
    "enqueue": [
        [NOT_UTF8],
        [HUGE_TEXT],
        [b"job", b"--priority", HUGE_NUMBER],
        [b"job", b"--after", b"1e999"],
        [b"job", b"--count", HUGE_NUMBER[:30]],
        [b"job", b"--header", b"k=" + NOT_UTF8],
        [b"job", b"--dedupe-key", NOT_UTF8],
        [b"job", b"--payload-file", b"/nonexistent/" + NOT_UTF8],
    ],
    "purge": [[NOT_UTF8, b"--yes"], [b"--status", HUGE_TEXT]],
    "pause": [
        [NOT_UTF8],
        [b"job", b"--reason", NOT_UTF8],
        [b"job", b"--for", HUGE_NUMBER],
        [b"job", b"--for", b"1e308d"],
    ],
    "resume": [[NOT_UTF8]],
    "status": [[NOT_UTF8]],
    "grants": [
        [b"--role", NOT_UTF8, b"--for", b"producer"],
        [b"--role", HUGE_TEXT, b"--for", b"producer"],
    ],
    "": [
        [NOT_UTF8],
        [b"--theme", NOT_UTF8],
        [b"--prefix", HUGE_TEXT],
        [b"--refresh", b"nan"],
        [b"--headless", b"--demo", b"--batch-size", HUGE_NUMBER[:40]],
        [b"--headless", b"--demo", b"--retry-timer", b"nan"],
        [b"--headless", b"--demo", b"--metrics-port", HUGE_NUMBER[:40]],
        [b"--headless", b"--demo", b"--entrypoint", NOT_UTF8],
    ],
}


def run(
    argv: list[bytes], tmp_path: Path, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    environment = {
        **os.environ,
        "PGQTOP_CONFIG_DIR": str(tmp_path / "config"),
        "PGQTOP_STATE_DIR": str(tmp_path / "state"),
        "PGQTOP_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "100",
    }
    for variable in ("PGQTOP_DSN", "DATABASE_URL", "PGQTOP_PREFIX"):
        environment.pop(variable, None)
    return subprocess.run(
        [bytes(PGQTOP), *argv], input=stdin, capture_output=True, env=environment, timeout=60
    )


def where(command: str, dsn: str, names: ObjectNames) -> list[bytes]:
    """The database to run against: the suite's, except for the console, which must never
    open, so a hostile value that passed its checks would meet a refused connection."""
    database = UNREACHABLE if command == "" else dsn
    return [b"--dsn", database.encode(), b"--prefix", names.prefix.encode()]


UNCONNECTED = {"grants"}
"""Commands that print without connecting: a DSN they never use is not theirs to refuse."""


def argvs(command: str) -> list[list[bytes]]:
    """The hostile arguments of a command, after its name."""
    required = REQUIRED.get(command, [])
    generic = [h for h in GENERIC if not (command in UNCONNECTED and HUGE_HOST in h)]
    return [[*required, *hostile] for hostile in generic] + SPECIFIC.get(command, [])


CASES = [(command, argv) for command in ["", *commands()] for argv in argvs(command)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "argv"),
    CASES,
    ids=[f"{command or 'console'}-{i}" for i, (command, _) in enumerate(CASES)],
)
def test_hostile_arguments_get_one_line_and_a_failing_exit(
    command: str, argv: list[bytes], dsn: str, names: ObjectNames, tmp_path: Path
) -> None:
    assert PGQTOP.exists(), "the suite runs from an installed pgqtop"
    # The database goes first: a repeated option's last value wins, so a hostile one counts.
    head = [command.encode()] if command else []
    result = run([*head, *where(command, dsn, names), *argv], tmp_path)
    err = result.stderr.decode("utf-8", "replace")
    shown = [a[:60] for a in argv]
    assert b"Traceback" not in result.stderr + result.stdout, (shown, err)
    assert result.returncode != 0, (shown, result.stdout[:300])
    assert err.count("\n") == 1 and err.startswith("pgqtop"), (shown, err)


def test_a_payload_that_is_not_utf8_is_stored_as_its_bytes(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    raw = b"\xff\xfe\x00\x80binary"[:2] + b"\x80binary"
    target = [b"--dsn", dsn.encode(), b"--prefix", names.prefix.encode()]
    result = run([b"enqueue", b"job", b"--payload", raw, *target], tmp_path)
    assert result.returncode == 0, result.stderr
    rows = sync_conn.execute(sq("SELECT payload FROM {jobs}", names)).fetchall()
    assert rows == [(raw,)]


@pytest.mark.parametrize(
    "argv",
    [
        [b"install", b"--dry-run"],
        [b"grants", b"--role", b"app", b"--for", b"console"],
        [b"workers", b"--json"],
        [b"status"],
        [b"enqueue", b"job", b"--count", b"25"],
        [b"--help"],
    ],
)
def test_a_reader_that_stops_early_gets_no_traceback(
    argv: list[bytes], dsn: str, names: ObjectNames, tmp_path: Path
) -> None:
    """`pgqtop ... | head -1`: the pipe closes while pgqtop still writes."""
    if argv[0] == b"workers":
        with psycopg.connect(dsn, autocommit=True) as conn:
            for pid in range(40):
                conn.execute(
                    sq(
                        "INSERT INTO {workers} (id, host, pid) VALUES (gen_random_uuid(), 'h', %s)",
                        names,
                    ),
                    (pid,),
                )
    if argv[0] == b"status":
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sq(
                    "INSERT INTO {jobs} (entrypoint)"
                    " SELECT 'e' || i FROM generate_series(1, 400) i",
                    names,
                )
            )
    target = [b"--dsn", dsn.encode(), b"--prefix", names.prefix.encode()]
    full = [*argv, *(target if argv[0] != b"--help" else [])]
    shell = subprocess.run(
        ["bash", "-o", "pipefail", "-c", '"$@" | head -c 0', "bash", bytes(PGQTOP), *full],
        capture_output=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in ("PGQTOP_DSN", "PGQTOP_PREFIX")},
    )
    assert b"Traceback" not in shell.stderr, shell.stderr.decode(errors="replace")
    assert b"Exception ignored" not in shell.stderr, shell.stderr.decode(errors="replace")
    assert shell.returncode in (0, 141), (shell.returncode, shell.stderr)


def test_a_host_name_dns_cannot_hold_is_one_short_line(tmp_path: Path) -> None:
    result = run([b"status", b"--dsn", HUGE_HOST], tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 3
    assert "invalid host name" in err and "label too long" in err
    assert len(err) < 300 and err.count("\n") == 1
