"""`pgqtop completion`: scripts the shells accept, naming every command and flag, and
completing for real where the shell is installed."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from pgqtop.cli import build_parser, main
from pgqtop.commands.completion import SHELLS, script


def every_command_and_flag() -> tuple[set[str], set[str]]:
    parser = build_parser()
    commands: set[str] = set()
    flags: set[str] = set()

    def walk(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            flags.update(o for o in action.option_strings if o.startswith("--"))
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    commands.add(name)
                    walk(sub)

    walk(parser)
    return commands, flags


def test_the_parser_walk_finds_what_the_cli_has() -> None:
    commands, flags = every_command_and_flag()
    assert {"enqueue", "completion", "purge", "grants"} <= commands
    assert {"--burst", "--no-burst-fail-exit", "--payload-file", "--dsn"} <= flags


@pytest.mark.parametrize("shell", SHELLS)
def test_the_script_names_every_command_and_flag(shell: str) -> None:
    text = script(shell)
    commands, flags = every_command_and_flag()
    if shell == "fish":  # fish names a long option as `-l name`
        flags = {f"-l {flag.removeprefix('--')}" for flag in flags}
    missing = sorted(n for n in commands | flags if n not in text)
    assert missing == []


@pytest.mark.parametrize("shell", SHELLS)
def test_the_shell_accepts_the_script(shell: str, tmp_path: Path) -> None:
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed here (apt-get install {shell})")
    path = tmp_path / f"pgqtop.{shell}"
    path.write_text(script(shell))
    checked = subprocess.run([binary, "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_bash_completes_commands_flags_and_choices(tmp_path: Path) -> None:
    path = tmp_path / "pgqtop.bash"
    path.write_text(script("bash"))
    probe = (
        f"source {path}\n"
        'ask() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*";'
        ' COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _shtab_pgqtop; echo "${COMPREPLY[*]}"; }\n'
        "ask pgqtop enq\n"
        "ask pgqtop enqueue x --pri\n"
        "ask pgqtop completion ''\n"
        "ask pgqtop --headless --bu\n"
    )
    answers = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert answers[0] == "enqueue"
    assert answers[1] == "--priority"
    assert answers[2].split() == ["bash", "zsh", "fish"]
    assert answers[3].split() == ["--burst", "--burst-fail-exit"]


def test_fish_completes_subcommands_with_their_help(tmp_path: Path) -> None:
    fish = shutil.which("fish")
    if fish is None:
        pytest.skip("fish is not installed here (apt-get install fish)")
    path = tmp_path / "pgqtop.fish"
    path.write_text(script("fish"))
    probe = f"source {path}; complete -C 'pgqtop enq'; complete -C 'pgqtop --headless --bu'"
    found = subprocess.run([fish, "-c", probe], capture_output=True, text=True, check=True)
    lines = found.stdout.splitlines()
    assert lines[0] == "enqueue\tadd jobs to the queue"
    assert [line.split("\t")[0] for line in lines[1:]] == ["--burst", "--burst-fail-exit"]


def test_the_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "zsh"]) == 0
    assert capsys.readouterr().out == script("zsh")
    assert main(["completion", "tcsh"]) == 2
    assert "invalid choice" in capsys.readouterr().err
