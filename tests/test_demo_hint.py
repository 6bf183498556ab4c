"""The demo's hint for a second console: shown inside the console, and runnable as printed."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pgqtop.commands import run
from pgqtop.config import Settings
from pgqtop.tui.app import PgqtopApp
from tests.tui.conftest import notifications, until


def test_the_hint_names_this_program_when_pgqtop_is_not_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    program = tmp_path / "venv" / "bin" / "pgqtop"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(program)])
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert run._own_command() == shlex.quote(str(program.resolve()))


def test_the_hint_falls_back_to_this_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.setenv("PATH", "/nonexistent")
    command = run._own_command()
    assert command == f"{shlex.quote(sys.executable)} -m pgqtop"
    shown = subprocess.run(
        [*shlex.split(command), "--version"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr


async def test_the_console_shows_its_greeting_when_it_opens(settings: Settings) -> None:
    app = PgqtopApp(settings, remember_state=False)
    app.greeting = "another console: pgqtop --dsn 'host=x'"
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until(pilot, lambda: any("another console" in n for n in notifications(app)))
