"""An empty or blank prefix is an error wherever it comes from, never the default queue."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pgqtop.cli import build_parser, main
from pgqtop.config import ObjectNames, Settings, resolve_prefix
from pgqtop.errors import ConfigError
from tests.test_cli_admin import UNREACHABLE
from tests.test_cli_profiles import use_config

REQUIRED = {
    "enqueue": ["job"],
    "grants": ["--role", "app", "--for", "producer"],
    "job": ["1"],
    "cancel": ["1"],
    "requeue": ["1"],
}
"""Arguments a command cannot parse without; every other command needs none."""


OFFLINE = {"completion"}
"""Commands that name no database (no --dsn, no --prefix): a prefix means nothing to them."""


def commands() -> list[str]:
    """Every subcommand the parser knows, so a new one is covered without editing this file."""
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return [name for name in action.choices if name not in OFFLINE]
    raise AssertionError("the parser has no subcommands")


def argvs() -> list[list[str]]:
    """Each subcommand with what it needs, plus the console, headless and demo modes."""
    runs = [[name, *REQUIRED.get(name, [])] for name in commands()]
    return [*runs, [], ["--headless", "--demo"], ["--demo"], ["install", "--dry-run"]]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    """main() as the shell runs it: argparse's own errors exit too."""
    try:
        code = main(argv)
    except SystemExit as exited:
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("blank", ["", " ", "\t"])
def test_a_blank_prefix_flag_is_refused_by_every_command(
    capsys: pytest.CaptureFixture[str], blank: str
) -> None:
    for argv in argvs():
        code, out, err = run(capsys, [*argv, "--dsn", UNREACHABLE, "--prefix", blank])
        assert code == 2, argv
        assert out == "", argv
        assert err.count("\n") == 1 and "prefix" in err, (argv, err)


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_pgqtop_prefix_variable_is_refused_by_every_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    monkeypatch.setenv("PGQTOP_PREFIX", blank)
    for argv in argvs():
        code, out, err = run(capsys, [*argv, "--dsn", UNREACHABLE])
        assert code == 2, argv
        assert out == "", argv
        assert err.count("\n") == 1 and "PGQTOP_PREFIX" in err, (argv, err)


def test_uninstall_dry_run_with_an_empty_prefix_prints_no_sql(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, ["uninstall", "--dry-run", "--prefix", ""])
    assert code == 2 and "DROP" not in out + err


def test_a_profile_names_its_prefix_and_a_blank_one_is_refused(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    dsn: str,
    names: ObjectNames,
) -> None:
    monkeypatch.delenv("PGQTOP_PREFIX", raising=False)
    use_config(
        monkeypatch, tmp_path, f'[profiles.good]\ndsn = "{dsn}"\nprefix = "{names.prefix}"\n'
    )
    code, out, _ = run(capsys, ["verify", "--profile", "good"])
    assert code == 0 and names.prefix in out

    use_config(monkeypatch, tmp_path, f'[profiles.blank]\ndsn = "{dsn}"\nprefix = " "\n')
    for argv in argvs():
        code, out, err = run(capsys, [*argv, "--profile", "blank"])
        assert code == 2, argv
        assert err.count("\n") == 1 and "prefix" in err and "blank" in err, (argv, err)


def test_a_profile_key_pgqtop_does_not_know_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_config(monkeypatch, tmp_path, '[profiles.p]\ndsn = "host=db"\nprefx = "jobs"\n')
    code, _, err = run(capsys, ["status", "--profile", "p"])
    assert code == 2 and "prefx" in err and err.count("\n") == 1


def test_the_flag_wins_over_the_profile_which_wins_over_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGQTOP_PREFIX", "from_env")
    assert resolve_prefix(None) == "from_env"
    assert resolve_prefix(None, profile="from_profile") == "from_profile"
    assert resolve_prefix("from_flag", profile="from_profile") == "from_flag"
    monkeypatch.delenv("PGQTOP_PREFIX")
    assert resolve_prefix(None) == "pgqtop"


@pytest.mark.parametrize("blank", ["", " ", "\n"])
def test_the_python_api_refuses_a_blank_prefix_too(
    monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    with pytest.raises(ConfigError, match="prefix"):
        Settings.create(prefix=blank)
    monkeypatch.setenv("PGQTOP_PREFIX", blank)
    with pytest.raises(ConfigError, match="PGQTOP_PREFIX"):
        Settings.create()
