"""`--profile NAME` takes the DSN from config.toml; an unknown or unsafe profile is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgqtop.cli import main
from pgqtop.config import ObjectNames


def write_config(directory: Path, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.toml").write_text(text, encoding="utf-8")


def test_profile_supplies_the_dsn(
    dsn: str,
    names: ObjectNames,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(tmp_path, f'[profiles.staging]\ndsn = "{dsn}"\n')
    monkeypatch.setenv("PGQTOP_CONFIG_DIR", str(tmp_path))
    for variable in ("PGQTOP_DSN", "DATABASE_URL", "PGHOST", "PGDATABASE"):
        monkeypatch.delenv(variable, raising=False)

    assert main(["enqueue", "mail", "--profile", "staging", "--prefix", names.prefix]) == 0
    assert main(["status", "--json", "--profile", "staging", "--prefix", names.prefix]) == 0

    assert '"mail"' in capsys.readouterr().out


def test_unknown_profile_is_one_line_naming_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, '[profiles.prod]\ndsn = "host=db.internal dbname=jobs"\n')
    monkeypatch.setenv("PGQTOP_CONFIG_DIR", str(tmp_path))

    assert main(["status", "--profile", "nope"]) == 2

    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "no connection profile 'nope'" in error and "prod" in error


def test_profile_with_a_password_is_refused_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, '[profiles.prod]\ndsn = "host=db dbname=jobs password=hunter2"\n')
    monkeypatch.setenv("PGQTOP_CONFIG_DIR", str(tmp_path))

    assert main(["status", "--profile", "prod"]) == 2

    captured = capsys.readouterr()
    assert "hunter2" not in captured.err + captured.out
    assert "password" in captured.err
