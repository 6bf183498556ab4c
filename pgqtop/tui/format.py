"""Short human forms for durations, rates and forecasts, and the one way text from the
database reaches a widget, shared by every pane."""

from __future__ import annotations

import unicodedata

from rich.style import StyleType
from rich.text import Text

from pgqtop.humanize import duration as duration  # the panes call it as format.duration
from pgqtop.model.messages import printable
from pgqtop.tui.state import QueueRow


def rough_duration(seconds: float) -> str:
    """A forecast is an estimate: say it in one unit."""
    if seconds < 60:
        return f"{max(1, round(seconds))}s"
    if seconds < 3600:
        return f"{round(seconds / 60)}m"
    if seconds < 86400:
        return f"{round(seconds / 3600)}h"
    return f"{round(seconds / 86400)}d"


def rate(per_second: float) -> str:
    if per_second == 0:
        return "0"
    if per_second < 10:
        return f"{per_second:.1f}"
    return f"{per_second:,.0f}"


def count(value: int) -> str:
    return f"{value:,}"


def forecast(row: QueueRow, now: float) -> str:
    """Where the backlog is heading: from the queued trend, else from the completion rate."""
    trend = row.trend(now)
    if row.queued == 0:
        return "empty" if trend <= 0 else f"growing {trend:+.0f}/s"
    if trend >= 0.5:
        return f"growing +{rate(trend)}/s"
    if trend <= -0.5:
        return f"clears in ~{rough_duration(row.queued / -trend)}"
    if row.completed_per_second > 0:
        # Too few samples for a trend yet: the completion rate is the best guess.
        if 0 < len(row.history) < 3:
            return f"clears in ~{rough_duration(row.queued / row.completed_per_second)}"
        return "steady"
    return "stalled" if row.picked == 0 else "working"


def literal(value: object, style: StyleType = "") -> Text:
    """Text from the database (a name, an error, a host) as a widget must show it: a `Text`,
    so Textual never reads it as markup, with control characters escaped so it cannot act
    on the terminal, and runs of combining marks cut so one cell cannot grow a tower."""
    return Text(_tamed(printable(str(value))), style=style)


def literal_block(value: str, style: StyleType = "") -> Text:
    """Several lines (a traceback, a payload) as `literal` shows one: line breaks are kept,
    every other control character is escaped."""
    lines = value.expandtabs(4).split("\n")
    return Text(
        "\n".join(_tamed(printable(line.removesuffix("\r"))) for line in lines), style=style
    )


MAX_COMBINING = 2
"""Combining marks kept on one base character: enough for any written language."""


def _tamed(text: str) -> str:
    if text.isascii():
        return text
    kept: list[str] = []
    run = 0
    for char in text:
        if unicodedata.combining(char):
            run += 1
            if run > MAX_COMBINING:
                continue
        else:
            run = 0
        kept.append(char)
    return "".join(kept)


def plural(number: int, noun: str, nouns: str | None = None) -> str:
    """`1 job`, `2 jobs`, `1,000 jobs`: the count with the noun that agrees with it."""
    word = noun if number == 1 else (nouns or f"{noun}s")
    return f"{number:,} {word}"
