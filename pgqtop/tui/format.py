"""Short human forms for durations, rates and forecasts, shared by every pane."""

from __future__ import annotations

from pgqtop import humanize
from pgqtop.humanize import duration as duration  # the panes call these as format.<name>
from pgqtop.humanize import rate as rate
from pgqtop.humanize import relative as relative
from pgqtop.humanize import rough_duration as rough_duration
from pgqtop.model.forecast import Trend
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
