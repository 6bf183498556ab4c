"""The one table of console commands: key bindings, the command palette and `?` help all come
from here, so they can never disagree."""

from __future__ import annotations

import dataclasses

from textual.binding import Binding


@dataclasses.dataclass(frozen=True, slots=True)
class Command:
    key: str
    action: str
    title: str
    help: str
    writes: bool = False
    """Mutating commands are refused in a read-only session."""
    footer: bool = True
    key_display: str | None = None

    @property
    def id(self) -> str:
        return f"pgqtop.{self.action}"

    @property
    def action_name(self) -> str:
        """The action without its arguments, as `check_action` receives it."""
        return self.action.partition("(")[0]


COMMANDS: tuple[Command, ...] = (
    Command(
        "p",
        "toggle_pause",
        "Pause",
        "Pause or resume the selected entrypoint for the whole fleet",
        writes=True,
    ),
    Command(
        "P",
        "toggle_pause_all",
        "Pause all",
        "Pause or resume every entrypoint (fleet-wide)",
        writes=True,
        footer=False,
    ),
    Command(
        "T",
        "pause_for",
        "Pause for…",
        "Pause the selected entrypoint for 5m / 15m / 1h, then resume by itself",
        writes=True,
        footer=False,
    ),
    Command(
        "d",
        "purge",
        "Purge",
        "Delete the selected entrypoint's queued jobs, or the records of the selected failure"
        " group (asks first, with the count)",
        writes=True,
    ),
    Command(
        "D",
        "purge_all",
        "Purge all",
        "Delete every queued job (asks first, with the count)",
        writes=True,
        footer=False,
    ),
    Command(
        "r",
        "requeue",
        "Requeue",
        "Requeue the selected failure, or every failure of the selected group (asks first)",
        writes=True,
    ),
    Command(
        "R",
        "requeue_all",
        "Requeue all",
        "Requeue every failure of the selected entrypoint (asks first)",
        writes=True,
        footer=False,
    ),
    Command(
        "x",
        "cancel_job",
        "Cancel job",
        "Cancel a running job (from the jobs browser or a worker's running jobs)",
        writes=True,
        footer=False,
    ),
    Command("w", "toggle_worker", "Worker", "Start or stop the embedded worker"),
    Command(
        "plus",
        "more_concurrency",
        "More",
        "Raise the embedded worker's concurrency",
        footer=False,
        key_display="+",
    ),
    Command(
        "minus",
        "less_concurrency",
        "Less",
        "Lower the embedded worker's concurrency",
        footer=False,
        key_display="-",
    ),
    Command(
        "e", "enqueue", "Enqueue", "Enqueue a job (entrypoint, payload, priority)", writes=True
    ),
    Command("j", "jobs", "Jobs", "Browse jobs by entrypoint and status"),
    Command(
        "o",
        "goto_job",
        "Go to job",
        "Show one job's whole story by its id: due, picked, each failed attempt, its end",
        footer=False,
    ),
    Command("t", "next_theme", "Theme", "Cycle colour themes"),
    Command(
        "f",
        "failures_view",
        "Failure groups",
        "Show failures one by one or grouped by fingerprint (Enter: a group's latest traceback)",
        footer=False,
    ),
    Command(
        "c",
        "next_chart",
        "Chart",
        "Cycle the chart: completions / outcomes / latency / due jobs / oldest wait",
    ),
    Command("1", "chart_window('1m')", "1m", "Chart the last minute", footer=False),
    Command("2", "chart_window('15m')", "15m", "Chart the last 15 minutes", footer=False),
    Command("3", "chart_window('1h')", "1h", "Chart the last hour", footer=False),
    Command("4", "chart_window('24h')", "24h", "Chart the last 24 hours", footer=False),
    Command(
        "slash", "filter", "Filter", "Show only entrypoints containing some text", key_display="/"
    ),
    Command("s", "cycle_sort", "Sort", "Change the queues sort column", footer=False),
    Command(
        "space", "toggle_freeze", "Freeze", "Freeze or unfreeze the display (data keeps flowing)"
    ),
    Command("question_mark", "help", "Help", "Show every key", key_display="?"),
    Command("q", "quit", "Quit", "Leave the console"),
)


def bindings() -> list[Binding]:
    return [
        Binding(
            c.key,
            c.action,
            c.title,
            show=c.footer,
            key_display=c.key_display,
            id=c.id,
        )
        for c in COMMANDS
    ]


def command_for(action: str) -> Command:
    for command in COMMANDS:
        if command.action == action:
            return command
    raise KeyError(action)


WRITE_ACTIONS = frozenset(c.action_name for c in COMMANDS if c.writes)
"""Actions a read-only session switches off."""


def shown_key(command: Command) -> str:
    return command.key_display or command.key
