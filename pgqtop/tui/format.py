"""Short human forms for durations, rates and forecasts, and the one way text from the
database reaches a widget, shared by every pane."""

from __future__ import annotations

import unicodedata

from rich.style import StyleType
from rich.text import Text

from pgqtop import humanize
from pgqtop.humanize import age as age  # the panes call these as format.<name>
from pgqtop.humanize import duration as duration
from pgqtop.humanize import rate as rate
from pgqtop.humanize import relative as relative
from pgqtop.humanize import rough_duration as rough_duration
from pgqtop.model.forecast import Trend
from pgqtop.model.messages import printable
from pgqtop.tui.state import QueueRow


def count(value: int) -> str:
    return f"{value:,}"


def forecast(row: QueueRow, now: float) -> str:
    """Where the due backlog is heading, on its net rate (model.forecast)."""
    found = row.forecast(now)
    text = humanize.forecast(found.trend, found.net_rate_per_second, found.clears_in_seconds)
    if found.trend == Trend.STALLED and row.picked:
        return "working"
    return text


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
