"""`--profile NAME` takes the DSN from config.toml; an unknown or unsafe profile is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgqtop.cli import main
from pgqtop.config import ObjectNames


def use_config(monkeypatch: pytest.MonkeyPatch, directory: Path, text: str) -> None:
    """Write config.toml into `directory` and point pgqtop at it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("PGQTOP_CONFIG_DIR", str(directory))


def test_profile_supplies_the_dsn(
    dsn: str,
    names: ObjectNames,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_config(monkeypatch, tmp_path, f'[profiles.staging]\ndsn = "{dsn}"\n')
    for variable in ("PGQTOP_DSN", "DATABASE_URL", "PGHOST", "PGDATABASE"):
        monkeypatch.delenv(variable, raising=False)

    assert main(["enqueue", "mail", "--profile", "staging", "--prefix", names.prefix]) == 0
    assert main(["status", "--json", "--profile", "staging", "--prefix", names.prefix]) == 0

    assert '"mail"' in capsys.readouterr().out


def test_unknown_profile_is_one_line_naming_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_config(monkeypatch, tmp_path, '[profiles.prod]\ndsn = "host=db.internal dbname=jobs"\n')

    assert main(["status", "--profile", "nope"]) == 2

    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "no connection profile 'nope'" in error and "prod" in error


def test_profile_with_a_password_is_refused_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = '[profiles.prod]\ndsn = "host=db dbname=jobs password=hunter2"\n'
    use_config(monkeypatch, tmp_path, profile)

    assert main(["status", "--profile", "prod"]) == 2

    captured = capsys.readouterr()
    assert "hunter2" not in captured.err + captured.out
    assert "password" in captured.err
