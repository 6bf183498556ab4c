"""Colour themes as data: every `themes/*.toml` becomes a Textual Theme.

Built-in themes ship inside the package (or sit in the source checkout's `themes/`); the user's
own go in `<config dir>/themes/`, and one with a built-in's name replaces it. A malformed file is
reported by name and skipped, so a typo never stops the console from starting.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import Theme

import pgqtop
from pgqtop.config import config_dir, read_toml
from pgqtop.errors import ConfigError

DEFAULT_THEME = "midnight"
COLOUR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
)


SIGNAL_KEYS = ("error", "warning", "success", "accent")
"""The colours text built in code is drawn in; every built-in theme defines each of them."""


@dataclasses.dataclass(frozen=True, slots=True)
class TextColours:
    """Rich styles for text the panes build in code, from the current theme.

    They are Textual's `$text-error`, `$text-warning`, `$text-success` and `$text-accent`: each
    signal colour of the theme shifted to read on its background, so a light theme gets dark
    amber where a dark one gets bright yellow. No colour name is written in a pane."""

    error: str
    warning: str
    success: str
    accent: str


_computed: dict[str, tuple[Theme, TextColours]] = {}


def text_colours(app: App[Any]) -> TextColours:
    """The text colours of the app's current theme (worked out once per theme)."""
    theme = app.current_theme
    cached = _computed.get(theme.name)
    if cached is not None and cached[0] is theme:
        return cached[1]
    variables = theme.to_color_system().generate()
    colours = TextColours(*(variables[f"text-{key}"] for key in SIGNAL_KEYS))
    _computed[theme.name] = (theme, colours)
    return colours


@dataclasses.dataclass(slots=True)
class ThemeSet:
    themes: dict[str, Theme] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return list(self.themes)


def builtin_theme_dir() -> Path:
    packaged = Path(pgqtop.__file__).parent / "themes"
    if packaged.is_dir():
        return packaged
    return Path(pgqtop.__file__).parent.parent / "themes"


def user_theme_dir() -> Path:
    return config_dir() / "themes"


def theme_from_mapping(data: dict[str, Any], fallback_name: str) -> Theme:
    """Validate one theme's keys and colours; raises ValueError saying what is wrong."""
    name = data.get("name", fallback_name)
    if not isinstance(name, str) or not name:
        raise ValueError("'name' must be a non-empty string")
    unknown = set(data) - {"name", "dark", *COLOUR_KEYS}
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    if "primary" not in data:
        raise ValueError("'primary' is required")
    colours: dict[str, str] = {}
    for key in COLOUR_KEYS:
        if key in data:
            value = data[key]
            if not isinstance(value, str):
                raise ValueError(f"{key!r} must be a colour string")
            try:
                Color.parse(value)
            except ColorParseError:
                raise ValueError(f"{key!r} is not a colour: {value!r}") from None
            colours[key] = value
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError("'dark' must be true or false")
    return Theme(
        name=name,
        dark=dark,
        primary=colours["primary"],
        secondary=colours.get("secondary"),
        accent=colours.get("accent"),
        warning=colours.get("warning"),
        error=colours.get("error"),
        success=colours.get("success"),
        foreground=colours.get("foreground"),
        background=colours.get("background"),
        surface=colours.get("surface"),
        panel=colours.get("panel"),
    )


def load_themes(directories: list[Path] | None = None) -> ThemeSet:
    """Every readable theme from the built-in then the user directory, problems by file name."""
    found = ThemeSet()
    for directory in directories or [builtin_theme_dir(), user_theme_dir()]:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = theme_from_mapping(read_toml(path), path.stem)
            except (ConfigError, ValueError) as exc:
                found.problems.append(f"theme {path.name} skipped: {exc}")
                continue
            found.themes[theme.name] = theme
    return found
