"""Short human forms of durations, shared by the CLI's tables and the console's panes."""

from __future__ import annotations


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `2h04m`, `3d02h`: two units at most, whole seconds; `-` for unknown."""
    if seconds is None:
        return "-"
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
