"""`pgqtop install | upgrade | uninstall | verify`, and every way a connection can go wrong."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgqtop.cli import main
from pgqtop.config import ObjectNames
from pgqtop.db import schema
from tests.test_schema import sq

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def pgqtop(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line in a child process, stdin not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "pgqtop", *argv],
        input=stdin.decode() if stdin is not None else None,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def bare_names(dsn: str) -> Iterator[ObjectNames]:
    names = ObjectNames(f"c{uuid.uuid4().hex[:12]}")
    yield names
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.uninstall(conn, names)


def target(dsn: str, names: ObjectNames) -> list[str]:
    return ["--dsn", dsn, "--prefix", names.prefix]


def test_install_verify_uninstall_round_trip_through_the_cli(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    bare_names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    where = target(dsn, bare_names)
    code, out, _ = cli(capsys, "verify", *where)
    assert code == 1 and "pgqtop install" in out

    assert cli(capsys, "install", *where)[0] == 0
    assert cli(capsys, "install", *where)[0] == 0  # idempotent
    code, out, _ = cli(capsys, "verify", *where)
    assert code == 0 and "complete" in out
    assert schema.installed_version(sync_conn, bare_names) == schema.SCHEMA_VERSION

    code, out, _ = cli(capsys, "uninstall", "--yes", *where)
    assert code == 0
    assert schema.installed_version(sync_conn, bare_names) is None
    code, out, _ = cli(capsys, "uninstall", "--yes", *where)
    assert code == 0 and "nothing to uninstall" in out


def test_verify_lists_each_problem_and_upgrade_repairs_them(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    sync_conn.execute(sq("ALTER TABLE {workers} DROP COLUMN in_flight", names))
    sync_conn.execute(sq("UPDATE {meta} SET value = '0' WHERE key = 'schema_version'", names))

    code, out, err = cli(capsys, "verify", *target(dsn, names))
    assert code == 1
    assert "in_flight is missing" in out and "schema version is 0" in out
    assert "2 problem(s)" in err

    code, out, _ = cli(capsys, "upgrade", *target(dsn, names))
    assert code == 0 and "from version 0 to" in out
    assert cli(capsys, "verify", *target(dsn, names))[0] == 0


def test_commands_refuse_an_outdated_schema_naming_upgrade(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    sync_conn.execute(sq("UPDATE {meta} SET value = '0' WHERE key = 'schema_version'", names))
    code, out, err = cli(capsys, "status", *target(dsn, names))
    assert code == 4 and out == ""
    assert err.count("\n") == 1 and "run `pgqtop upgrade`" in err


def test_commands_refuse_a_missing_schema_naming_install(
    capsys: pytest.CaptureFixture[str], dsn: str, bare_names: ObjectNames
) -> None:
    for command in ("status", "workers", "purge", "resume --all"):
        code, _, err = cli(capsys, *command.split(), *target(dsn, bare_names))
        assert code == 4, command
        assert err.count("\n") == 1 and "run `pgqtop install`" in err


def test_upgrade_without_an_install_says_to_install(
    capsys: pytest.CaptureFixture[str], dsn: str, bare_names: ObjectNames
) -> None:
    code, _, err = cli(capsys, "upgrade", *target(dsn, bare_names))
    assert code == 4 and "pgqtop install" in err


@pytest.mark.parametrize("command", ["install", "upgrade", "uninstall", "verify"])
def test_dry_run_prints_sql_without_connecting(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = cli(capsys, command, "--dry-run", "--dsn", UNREACHABLE, "--prefix", "dry")
    assert code == 0 and err == ""
    expected = "DROP TABLE IF EXISTS" if command == "uninstall" else "CREATE TABLE IF NOT EXISTS"
    assert f'{expected} "dry_jobs"' in out


def test_uninstall_without_a_terminal_refuses_unless_yes(
    dsn: str, names: ObjectNames, sync_conn: psycopg.Connection[Any]
) -> None:
    result = pgqtop("uninstall", *target(dsn, names))
    assert result.returncode == 2
    assert "refusing without --yes" in result.stderr and result.stderr.count("\n") == 1
    assert schema.installed_version(sync_conn, names) == schema.SCHEMA_VERSION


def test_uninstall_asks_on_a_terminal_and_obeys_the_answer(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
) -> None:
    answers = iter(["n", "y"])
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))

    assert cli(capsys, "uninstall", *target(dsn, names))[0] == 1
    assert schema.installed_version(sync_conn, names) == schema.SCHEMA_VERSION
    assert cli(capsys, "uninstall", *target(dsn, names))[0] == 0
    assert schema.installed_version(sync_conn, names) is None


def test_invalid_prefix_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "install", "--dry-run", "--prefix", 'x"; drop table y; --')
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "invalid prefix" in err


@pytest.mark.parametrize(
    ("dsn_text", "reason"),
    [
        ("postgresql://postgres:secret-pw@127.0.0.1:1/test", "connection refused"),
        ("postgresql://postgres:secret-pw@127.0.0.1:badport/test", "malformed connection"),
        ("host=127.0.0.1 password=secret-pw nonsense=1", "malformed connection"),
        ("postgresql://postgres:secret-pw@no-such-host.invalid/test", "unknown host"),
    ],
)
def test_connection_failures_are_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str], dsn_text: str, reason: str
) -> None:
    code, out, err = cli(capsys, "status", "--dsn", dsn_text)
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and reason in err
    assert "secret-pw" not in err


def test_missing_database_is_named(capsys: pytest.CaptureFixture[str], dsn: str) -> None:
    missing = psycopg.conninfo.make_conninfo(dsn, dbname="pgqtop_no_such_db", password="secret-pw")
    code, _, err = cli(capsys, "verify", "--dsn", missing)
    assert code == 3
    assert 'database "pgqtop_no_such_db" does not exist' in err
    assert "secret-pw" not in err


def test_wrong_password_reason_is_plain() -> None:
    # The test server trusts every local login, so the server's message is fed in directly.
    from pgqtop.db.connection import connection_error_line

    failure = psycopg.OperationalError(
        'connection failed: FATAL:  password authentication failed for user "app"'
    )
    line = connection_error_line(failure, "app@db:5432/prod")
    assert line == "cannot connect to app@db:5432/prod: wrong user name or password"


def test_dsn_comes_from_pgqtop_dsn_before_database_url(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dsn: str,
    names: ObjectNames,
) -> None:
    monkeypatch.setenv("PGQTOP_DSN", dsn)
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("PGQTOP_PREFIX", names.prefix)
    assert cli(capsys, "verify")[0] == 0

    monkeypatch.delenv("PGQTOP_DSN")
    code, _, err = cli(capsys, "verify")
    assert code == 3 and "127.0.0.1:1" in err


def test_version_and_help_work_without_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    version = pgqtop("--version")
    assert version.returncode == 0 and version.stdout.startswith("pgqtop ")
    for command in ("install", "enqueue", "status", "purge", "pause", "workers", "grants"):
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        assert "--dsn" in capsys.readouterr().out, command
