"""Console settings: what a person writes by hand, apart from what the console remembers.

`<config dir>/config.toml` is hand-edited and only ever read (theme, refresh, chart window,
and the `[profiles.NAME] dsn = ...` that pgqtop.config reads, as the CLI uses them too).
`<state dir>/state.toml` is machine-written: the last theme and chart window, so the console
opens as it was left.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from pgqtop.config import config_path, parse_profiles, read_toml, state_dir, write_toml
from pgqtop.errors import ConfigError

KNOWN_KEYS = {"theme", "refresh", "chart_window", "profiles"}


@dataclasses.dataclass(slots=True)
class ConsolePreferences:
    theme: str | None = None
    refresh: float | None = None
    chart_window: str | None = None
    profiles: dict[str, str] = dataclasses.field(default_factory=dict)


def state_path() -> Path:
    return state_dir() / "state.toml"


def _optional(data: dict[str, Any], key: str, kind: type, path: Path) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise ConfigError(f"{path}: {key!r} must be a {kind.__name__}")
    return value


def read_preferences(path: Path | None = None) -> ConsolePreferences:
    """The hand-edited config; missing is fine, malformed is one clear error naming the file."""
    path = path or config_path()
    if not path.exists():
        return ConsolePreferences()
    data = read_toml(path)
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown settings: {', '.join(sorted(unknown))}")
    refresh = data.get("refresh")
    if refresh is not None and (
        isinstance(refresh, bool) or not isinstance(refresh, int | float) or refresh <= 0
    ):
        raise ConfigError(f"{path}: 'refresh' must be a positive number of seconds")
    profiles = parse_profiles(data, path)
    return ConsolePreferences(
        theme=_optional(data, "theme", str, path),
        refresh=float(refresh) if refresh is not None else None,
        chart_window=_optional(data, "chart_window", str, path),
        profiles=profiles,
    )


def read_state(path: Path | None = None) -> dict[str, Any]:
    """Remembered state; a damaged file is forgotten rather than fatal (we wrote it)."""
    path = path or state_path()
    if not path.exists():
        return {}
    try:
        return read_toml(path)
    except ConfigError:
        return {}


def remember(path: Path | None = None, **values: Any) -> None:
    path = path or state_path()
    current = read_state(path)
    current.update({k: v for k, v in values.items() if v is not None})
    with contextlib.suppress(OSError):  # remembering is a courtesy, never a failure
        write_toml(path, current)
