"""Themes as data and settings files: a bad file is named and skipped (theme) or refused in
one clear line (config); machine state is remembered apart from the hand-edited file."""

from __future__ import annotations

import io
import tokenize
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.text import Text
from textual.color import Color

import pgqtop.tui
from pgqtop.config import profile_dsn, read_toml
from pgqtop.errors import ConfigError
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.header import StatusHeader
from pgqtop.tui.settings import read_preferences, read_state
from pgqtop.tui.themes import SIGNAL_KEYS, builtin_theme_dir, load_themes, text_colours
from tests.tui.conftest import notifications

COLOUR_NAMES = {"red", "green", "yellow", "blue", "magenta", "cyan", "white", "black"}
STYLE_WORDS = COLOUR_NAMES | {"bold", "dim", "italic", "reverse", "underline", "on", "not"}


def contrast(one: Color, other: Color) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""

    def luminance(colour: Color) -> float:
        def channel(value: int) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = colour.rgb
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


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


def test_every_builtin_theme_defines_the_colours_text_is_drawn_in() -> None:
    for path in sorted(builtin_theme_dir().glob("*.toml")):
        missing = set(SIGNAL_KEYS) - set(read_toml(path))
        assert not missing, f"{path.name} lacks {sorted(missing)}"


async def test_text_colours_follow_the_theme_and_read_on_its_background(
    make_app: Callable[..., PgqtopApp],
) -> None:
    app = make_app(watch=False, theme="midnight")
    async with app.run_test(size=(120, 40)) as pilot:
        seen: dict[str, str] = {}
        for name in load_themes([builtin_theme_dir()]).names:
            app.theme = name
            await pilot.pause()
            ink = text_colours(app)
            background = Color.parse(app.current_theme.to_color_system().generate()["background"])
            for key in SIGNAL_KEYS:
                ratio = contrast(Color.parse(getattr(ink, key)), background)
                assert ratio >= 4.5, f"{name}: {key} text has contrast {ratio:.1f}"
            # The header is drawn again in the new theme's colours.
            header = app.query_one(StatusHeader).content
            assert isinstance(header, Text)
            assert any(ink.success in str(span.style) for span in header.spans), name
            seen[name] = ink.warning
        assert seen["paper"] != seen["midnight"]


def test_no_tui_code_names_a_colour() -> None:
    """Colours come from the theme: a style string like "bold red" is a bug in a light theme."""
    offenders = []
    for path in Path(pgqtop.tui.__file__).parent.rglob("*.py"):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for token in tokens:
            if token.type != tokenize.STRING:
                continue
            words = token.string.strip("\"'fbr").lower().split()
            if words and set(words) <= STYLE_WORDS and set(words) & COLOUR_NAMES:
                offenders.append(f"{path.name}:{token.start[0]} {token.string}")
    assert offenders == []
