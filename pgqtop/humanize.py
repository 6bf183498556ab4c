"""Short human forms of durations, shared by the CLI's tables and the console's panes."""

from __future__ import annotations

import datetime as dt


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


def age(seconds: float | None) -> str:
    """A time that moves with the clock, as a pane shows it: `42s` under a minute, whole
    minutes (`3m`) under an hour, then as `duration`. Past a minute a cell changes once a
    minute rather than every second, so an open console redraws few rows; `-` for unknown."""
    if seconds is None:
        return "-"
    whole = max(0, int(seconds))
    if 60 <= whole < 3600:
        return f"{whole // 60}m"
    return duration(whole)


def elapsed(seconds: float | None) -> str:
    """A time that may be short, to the precision it deserves: `850µs`, `12ms`, `1.25s`,
    `14.2s`, then as `duration` from a minute on; `-` for unknown. For run times and
    latency percentiles."""
    if seconds is None:
        return "-"
    value = max(0.0, seconds)
    # Each threshold is where the shorter form would round up into the next one.
    if value < 0.0009995:
        return f"{value * 1e6:.0f}µs"
    if value < 0.9995:
        return f"{value * 1e3:.0f}ms"
    if value < 9.995:
        return f"{value:.2f}s"
    if value < 59.95:
        return f"{value:.1f}s"
    return duration(round(value))


def span(seconds: float) -> str:
    """A configured length of time in its fewest units: `1h`, `1h30m`, `90s` -> `1m30s`."""
    whole = max(0, round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, whole = divmod(whole, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def format_time(moment: dt.datetime | None) -> str:
    """A moment in the local time zone, to the second; `-` for none."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def rough_duration(seconds: float) -> str:
    """An estimate, said in one unit: `40s`, `3m`, `2h`, `1d`."""
    if seconds < 60:
        return f"{max(1, round(seconds))}s"
    if seconds < 3600:
        return f"{round(seconds / 60)}m"
    if seconds < 86400:
        return f"{round(seconds / 3600)}h"
    return f"{round(seconds / 86400)}d"


def rate(per_second: float) -> str:
    """Jobs per second: one decimal below ten, whole numbers with separators above."""
    if per_second == 0:
        return "0"
    if abs(per_second) < 10:
        return f"{per_second:.1f}"
    return f"{per_second:,.0f}"


def relative(seconds: float | None) -> str:
    """A moment from now: `in 54m` ahead, `3m ago` behind, `now` within the second."""
    if seconds is None:
        return "-"
    if abs(seconds) < 1:
        return "now"
    return f"in {duration(seconds)}" if seconds > 0 else f"{duration(-seconds)} ago"


def forecast(trend: str, net_rate: float | None, clears_in: float | None) -> str:
    """A backlog forecast (model.forecast) in a few words."""
    if trend == "clearing" and clears_in is not None:
        return f"clears in ~{rough_duration(clears_in)}"
    if trend == "growing" and net_rate is not None:
        return f"growing +{rate(net_rate)}/s"
    if trend == "unknown":
        return "-"
    return trend
