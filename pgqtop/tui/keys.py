"""The one table of console commands: key bindings, the command palette, the footer and `?`
help all come from here, so they can never disagree. Each command says where it means
something (which screen, which pane focused) and, for everywhere else, why it does nothing:
a key acts on what the operator sees, never on a row hidden behind another screen."""

from __future__ import annotations

import dataclasses

from textual.binding import Binding

# Where a key is pressed: a pane of the main screen (the one focused), or another screen.
QUEUES = "queues"
FAILURES = "failures"
WORKERS = "workers"
CHART = "throughput"
EVENTS = "events"
MAIN = "main"
"""The main screen with no pane focused."""
JOBS = "jobs"
"""The jobs browser."""
JOB = "job"
"""One job's detail."""
FAILURE = "failure"
"""One failure's detail."""
ENTRYPOINT = "entrypoint"
"""One entrypoint's detail (Enter on a Queues row)."""
HELP = "help"

MAIN_SCREEN = frozenset({MAIN, QUEUES, FAILURES, WORKERS, CHART, EVENTS})
SHOWS_ENTRYPOINT = frozenset({QUEUES, FAILURES, JOBS, JOB, FAILURE, ENTRYPOINT})
"""Where one entrypoint is under the cursor or on the screen."""
EVERYWHERE = MAIN_SCREEN | {JOBS, JOB, FAILURE, ENTRYPOINT, HELP}


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
    where: frozenset[str] = MAIN_SCREEN
    """Where the key means something; anywhere else it is off the footer and says `why`."""
    why: str = ""
    also: str = ""
    """More keys for the same command (comma-separated), left out of footer and help."""
    priority: bool = False
    """Ahead of the focused widget's own binding for the same key."""

    @property
    def id(self) -> str:
        return f"pgqtop.{self.action}"

    @property
    def action_name(self) -> str:
        """The action without its arguments, as `check_action` receives it."""
        return self.action.partition("(")[0]

    def applies(self, where: str) -> bool:
        return where in self.where

    def refusal(self) -> str:
        """What pressing the key says where it means nothing."""
        return self.why or f"{shown_key(self)}: {self.title.lower()} works on the main screen"


COMMANDS: tuple[Command, ...] = (
    Command(
        "p",
        "toggle_pause",
        "Pause",
        "Pause or resume the selected entrypoint for the whole fleet",
        writes=True,
        where=SHOWS_ENTRYPOINT,
        why="p pauses an entrypoint: select one in Queues or Failures, or open a job",
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
        where=SHOWS_ENTRYPOINT,
        why="T pauses an entrypoint: select one in Queues or Failures, or open a job",
    ),
    Command(
        "d",
        "purge",
        "Purge",
        "Delete the selected entrypoint's queued jobs, or the records of the selected failure"
        " group (asks first, with the count)",
        writes=True,
        where=frozenset({QUEUES, FAILURES, ENTRYPOINT}),
        why="d purges the entrypoint selected in Queues, or a failure group (f in Failures)",
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
        where=frozenset({FAILURES, FAILURE}),
        why="r requeues a failure: select one in Failures",
    ),
    Command(
        "R",
        "requeue_all",
        "Requeue all",
        "Requeue every failure of the selected entrypoint (asks first)",
        writes=True,
        footer=False,
        where=frozenset({QUEUES, FAILURES, FAILURE, ENTRYPOINT}),
        why="R requeues an entrypoint's failures: select one in Queues or Failures",
    ),
    Command(
        "x",
        "cancel_job",
        "Cancel job",
        "Cancel the selected running job (jobs browser, a job's detail, a worker's running jobs)",
        writes=True,
        where=frozenset({JOBS, JOB}),
        why="x cancels a running job: select one in the jobs browser (j)",
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
        "e",
        "enqueue",
        "Enqueue",
        "Enqueue a job (entrypoint, payload, priority)",
        writes=True,
        where=MAIN_SCREEN | {JOBS, JOB, FAILURE, ENTRYPOINT},
        why="e enqueues a job: press it on the main screen",
    ),
    Command("j", "jobs", "Jobs", "Browse jobs by entrypoint and status"),
    Command(
        "o",
        "goto_job",
        "Go to job",
        "Show one job's whole story by its id: due, picked, each failed attempt, its end",
        footer=False,
        where=EVERYWHERE - {HELP},
    ),
    Command("t", "next_theme", "Theme", "Cycle colour themes", where=EVERYWHERE),
    Command(
        "f",
        "failures_view",
        "Failure groups",
        "Show failures one by one or grouped by fingerprint (Enter: a group's latest traceback)",
        footer=False,
        where=MAIN_SCREEN,
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
    Command(
        "question_mark",
        "help",
        "Help",
        "Show every key",
        key_display="?",
        where=EVERYWHERE - {HELP},
    ),
    Command("q", "quit", "Quit", "Leave the console", where=EVERYWHERE),
    Command(
        "g",
        "first_row",
        "First",
        "Go to the first row (also Home)",
        footer=False,
        where=EVERYWHERE - {HELP},
        also="home",
        priority=True,
    ),
    Command(
        "G",
        "last_row",
        "Last",
        "Go to the last row (also End)",
        footer=False,
        where=EVERYWHERE - {HELP},
        also="end",
        priority=True,
    ),
)


def bindings() -> list[Binding]:
    return [
        Binding(
            ",".join(filter(None, (c.key, c.also))),
            c.action,
            c.title,
            show=c.footer,
            key_display=c.key_display or c.key,
            priority=c.priority,
            id=c.id,
        )
        for c in COMMANDS
    ]


def command_for(action: str) -> Command:
    for command in COMMANDS:
        if command.action == action or command.action_name == action:
            return command
    raise KeyError(action)


def command_for_key(key: str) -> Command | None:
    for command in COMMANDS:
        if key == command.key or key in command.also.split(","):
            return command
    return None


WRITE_ACTIONS = frozenset(c.action_name for c in COMMANDS if c.writes)
"""Actions a read-only session switches off."""


def shown_key(command: Command) -> str:
    return command.key_display or command.key
