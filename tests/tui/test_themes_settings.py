"""Themes as data and settings files: a bad file is named and skipped (theme) or refused in
one clear line (config); machine state is remembered apart from the hand-edited file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pgqtop.config import profile_dsn
from pgqtop.errors import ConfigError
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.settings import read_preferences, read_state
from pgqtop.tui.themes import builtin_theme_dir, load_themes
from tests.tui.conftest import notifications


def test_builtin_themes_cover_dark_light_contrast_and_character() -> None:
    found = load_themes([builtin_theme_dir()])
    assert found.problems == []
    assert {"midnight", "paper", "contrast", "phosphor"} <= set(found.names)
    assert found.themes["paper"].dark is False


def test_malformed_user_theme_is_reported_by_name_and_skipped(user_dirs: Path) -> None:
    themes = user_dirs / "config" / "themes"
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (themes / "garbled.toml").write_text("name = \n")
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#ff0000"\ndark = false\n')
    found = load_themes()
    assert "mine" in found.names and "broken" not in found.names
    assert any("broken.toml" in p and "not a colour" in p for p in found.problems)
    assert any("garbled.toml" in p and "malformed TOML" in p for p in found.problems)


async def test_app_starts_with_a_broken_theme_and_says_which(
    user_dirs: Path, make_app: Callable[..., PgqtopApp]
) -> None:
    themes = user_dirs / "config" / "themes"
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text("primary = 12\n")
    app = make_app(watch=False, theme="phosphor")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.theme == "phosphor"
        assert any("broken.toml" in n for n in notifications(app))


def test_malformed_config_is_one_clear_error(user_dirs: Path) -> None:
    path = user_dirs / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("theme = [\n")
    with pytest.raises(ConfigError, match=r"config\.toml: malformed TOML"):
        read_preferences()
    path.write_text("refresh = -1\n")
    with pytest.raises(ConfigError, match="'refresh' must be a positive number"):
        read_preferences()


def test_profiles_are_read_and_passwords_in_them_refused(user_dirs: Path) -> None:
    path = user_dirs / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[profiles.prod]\ndsn = "host=db.internal dbname=jobs user=ops"\n')
    assert profile_dsn("prod") == "host=db.internal dbname=jobs user=ops"
    with pytest.raises(ConfigError, match="no connection profile 'staging'"):
        profile_dsn("staging")
    path.write_text('[profiles.prod]\ndsn = "postgresql://ops:hunter2@db/jobs"\n')
    with pytest.raises(ConfigError, match="contains a password") as caught:
        read_preferences()
    assert "hunter2" not in str(caught.value)


async def test_theme_and_chart_window_are_remembered_in_state_not_config(
    user_dirs: Path, make_app: Callable[..., PgqtopApp]
) -> None:
    app = make_app(watch=False, theme="midnight", remember_state=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t", "3")
        chosen = app.theme
    assert read_state() == {"theme": chosen, "chart_window": "1h"}
    assert not (user_dirs / "config" / "config.toml").exists()
    again = make_app(watch=False, remember_state=True)
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert again.theme == chosen and again.state.chart_window.label == "1h"
