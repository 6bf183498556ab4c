"""Text from the database or the command line cannot forge the CLI's output: escape
sequences, bells, bidi overrides and newlines in names, reasons, hosts and errors appear
escaped in every human-readable output, and `--json` keeps them exact."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames
from tests.test_cli_admin import UNREACHABLE, cli, target
from tests.test_cli_prefix import run
from tests.test_schema import sq

CLEAR_SCREEN = "\x1b[2J\x1b[H"
HOSTILE_NAME = f"{CLEAR_SCREEN}mail\x07"
FAKE_ROW = "sms\nfake-entrypoint        999999      0          0  -          0"
REVERSED = "report\u202egnp.exe"
CONTROL = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


def assert_inert(text: str) -> None:
    for char in CONTROL:
        assert char not in text, (char, text)


@pytest.fixture
def hostile_queue(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> list[str]:
    """Jobs under three hostile names, one paused with a hostile reason by a hostile user."""
    where = target(dsn, names)
    for name in (HOSTILE_NAME, FAKE_ROW, REVERSED):
        assert cli(capsys, "enqueue", name, *where)[0] == 0
    code, out, err = cli(
        capsys, "pause", HOSTILE_NAME, "--reason", f"\x1b]0;pwned\x07{CLEAR_SCREEN}", *where
    )
    assert code == 0
    assert_inert(out + err)
    sync_conn.execute(sq("UPDATE {control} SET paused_by = %s", names), ("\x1b[8mroot\x9b0m",))
    return where


def test_status_escapes_names_reasons_and_users_and_prints_no_fake_row(
    capsys: pytest.CaptureFixture[str], hostile_queue: list[str]
) -> None:
    code, out, err = cli(capsys, "status", *hostile_queue)
    assert code == 0 and err == ""
    assert_inert(out)
    lines = out.splitlines()
    assert len(lines) == 1 + 3  # the header and one row per entrypoint, no forged row
    assert any(line.startswith("sms\\nfake-entrypoint") for line in lines)
    assert "\\x1b[2J\\x1b[Hmail\\x07" in out
    assert "report\\u202egnp.exe" in out
    assert "\\x1b]0;pwned\\x07" in out and "\\x1b[8mroot\\x9b0m" in out


def test_status_json_keeps_every_character_exact(
    capsys: pytest.CaptureFixture[str], hostile_queue: list[str]
) -> None:
    code, out, _ = cli(capsys, "status", "--json", *hostile_queue)
    assert code == 0
    assert_inert(out)  # JSON escapes them itself
    found = {e["entrypoint"]: e for e in json.loads(out)["entrypoints"]}
    assert set(found) == {HOSTILE_NAME, FAKE_ROW, REVERSED}
    assert found[HOSTILE_NAME]["paused"]["reason"] == f"\x1b]0;pwned\x07{CLEAR_SCREEN}"
    assert found[HOSTILE_NAME]["paused"]["by"] == "\x1b[8mroot\x9b0m"


def test_messages_escape_what_they_quote(
    capsys: pytest.CaptureFixture[str], hostile_queue: list[str]
) -> None:
    runs = [
        ["pause", REVERSED, "--for", "5m", "--reason", "\x07\x07\x07"],
        ["resume", REVERSED],
        ["resume", REVERSED],  # not paused: an error naming it
        ["purge", FAKE_ROW, "--yes"],
        ["purge", FAKE_ROW, "--yes"],  # nothing left to purge
        ["enqueue", HOSTILE_NAME, "--dedupe-key", "\x1b[1mk", "--on-duplicate", "skip"],
        ["enqueue", HOSTILE_NAME, "--dedupe-key", "\x1b[1mk", "--on-duplicate", "skip"],
        ["pause", "--all", "--reason", "\x1b[5mblink"],
        ["status"],
        ["resume", HOSTILE_NAME],  # warns that --all still holds it
    ]
    for argv in runs:
        code, out, err = cli(capsys, *argv, *hostile_queue)
        assert_inert(out + err)
        assert "\n" not in err.rstrip("\n"), (argv, err)
        assert code in (0, 1), (argv, err)


def test_workers_and_schedules_escape_what_workers_registered(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    sync_conn.execute(
        sq(
            "INSERT INTO {workers} (id, host, pid, version, entrypoints, state)"
            " VALUES (%s, %s, 1, %s, %s, %s)",
            names,
        ),
        (uuid.uuid4(), "\x1b]0;owned\x07host", "1.0\x9b2J", ["a\nb", "\u202ec"], "\x1b[31mok"),
    )
    sync_conn.execute(
        sq(
            "INSERT INTO {schedules} (entrypoint, expression, next_run)"
            " VALUES (%s, %s, now() + interval '1 minute')",
            names,
        ),
        ("\x1b[5mnightly\rX", "@every 1m\x1b[8m"),
    )
    for command in ("workers", "schedules"):
        code, out, err = cli(capsys, command, *target(dsn, names))
        assert code == 0 and err == ""
        assert_inert(out)
        assert len(out.splitlines()) == 2, out
    code, out, _ = cli(capsys, "workers", "--json", *target(dsn, names))
    assert json.loads(out)["workers"][0]["host"] == "\x1b]0;owned\x07host"


def test_errors_escape_what_they_quote(capsys: pytest.CaptureFixture[str]) -> None:
    runs = [
        ["status", "--dsn", f"host={CLEAR_SCREEN}db port=1 connect_timeout=1"],
        ["status", "\x1b[2Jextra", "--dsn", UNREACHABLE],  # argparse: unrecognized argument
        ["pause", "x", "--for", "\x1b[2J", "--dsn", UNREACHABLE],
        ["purge", "--status", "\x1b[31mdone", "--dsn", UNREACHABLE],
        ["status", "--profile", "\x1b[2J", "--dsn", UNREACHABLE],
        ["install", "--dry-run", "--prefix", "\x1b[2J"],
        ["grants", "--role", "app\x1b[2J", "--for", "producer", "--dsn", UNREACHABLE],
    ]
    for argv in runs:
        code, out, err = run(capsys, argv)
        assert code != 0, argv
        assert_inert(out + err)
        assert err.count("\n") == 1, (argv, err)
