"""Text from the database is shown as it is written, on every screen: a producer that names a
job `[/]` or fills a payload with markup and terminal escapes cannot crash the console, style
its text, or act on the operator's terminal. And when the console does die, the command exits
non-zero."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable

from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.rows import WorkerIdentity
from pgqtop.db.worker import WorkerQueries
from pgqtop.model import Outcome, Status
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.screens.detail import DetailScreen
from pgqtop.tui.screens.dialogs import ChoiceScreen, ConfirmScreen, EnqueueScreen
from pgqtop.tui.screens.help import HelpScreen
from pgqtop.tui.screens.jobs import JobsScreen
from tests.test_schema import sq
from tests.tui.conftest import cell_text, notifications, screen_text, until

Factory = Callable[..., PgqtopApp]

SHOWN = {
    "[/]": "[/]",
    "[reverse]X[/reverse]": "[reverse]X[/reverse]",
    "[link=https://evil.example]go[/link]": "[link=https://evil.example]go[/link]",
    "esc\x1b[31mred\x07": "esc\\x1b[31mred\\x07",
    "two\nlines": "two\\nlines",
    "宽字符🚀": "宽字符🚀",
    "ze" + "\u0301" * 8 + "ro": "ze\u0301\u0301ro",
}
"""Hostile entrypoint names and how the console must print them: literally, control
characters spelled out, a tower of combining accents cut to two."""
HOSTILE = tuple(SHOWN)
PAYLOAD = json.dumps({"text": "see [/x]", "bell": "\x07", "style": "[bold]b[/bold]"}).encode()
ERROR = "[/] boom \x1b]0;pwned\x07 [reverse]E[/reverse]"
TRACEBACK = "Traceback [bold]x[/bold]\n  line\x1b[2J here"
HOST = "[reverse]host[/reverse]\x1b[5m"


async def arrange(queries: ConsoleQueries, worker_queries: WorkerQueries) -> dict[str, int]:
    ids = {name: (await queries.enqueue(name, PAYLOAD, 0))[0] for name in HOSTILE}
    worker = uuid.uuid4()
    (failing,) = await queries.enqueue("[reverse]X[/reverse]", PAYLOAD, 0)
    taken = await worker_queries.dequeue({"[reverse]X[/reverse]": 10}, 10, worker, 30.0)
    assert failing in [j.id for j in taken]
    others = [j.id for j in taken if j.id != failing]
    await worker_queries.complete(
        [Outcome(failing, Status.EXCEPTION, 0.01, ERROR, TRACEBACK)], worker
    )
    assert len(others) == 1  # the job taken beside the failing one stays running
    await queries.enqueue("[reverse]X[/reverse]", PAYLOAD, 0)  # and one more is queued
    await queries.pause(["[/]"], by="[reverse]op[/reverse]\x1b", reason="[/]\x07 reason")
    identity = WorkerIdentity(uuid.uuid4(), HOST, 4242, "1", list(HOSTILE[:2]), 4)
    await worker_queries.heartbeat(identity, [], in_flight=0, processed=0, failed=0)
    # How it says new work reaches it goes into the workers pane's title, which is markup.
    await queries.conn.execute(
        sq("UPDATE {workers} SET wake = %s WHERE id = %s", queries.names),
        ("[reverse]wake[/reverse]", identity.id),
    )
    return ids


async def loaded(pilot: Pilot[Any], app: PgqtopApp) -> None:
    await until(pilot, lambda: app.watcher.queries is not None)
    for name in HOSTILE:
        await until(pilot, lambda name=name: cell_text(app, "queues", name, "queued") is not None)
    await until(pilot, lambda: app.query_one("#failures", DataTable).row_count == 1)
    await until(pilot, lambda: app.query_one("#workers", DataTable).row_count == 1)


def toasts(app: PgqtopApp) -> str:
    """The text of the toasts on screen, as drawn."""
    return " ".join(str(toast.render()) for toast in app.screen.query("Toast"))


def assert_alive(app: PgqtopApp) -> None:
    assert app.is_running and app.return_code is None


async def test_hostile_names_payloads_errors_and_hosts_are_literal_on_every_screen(
    make_app: Factory, queries: ConsoleQueries, worker_queries: WorkerQueries
) -> None:
    ids = await arrange(queries, worker_queries)
    app = make_app()
    async with app.run_test(size=(220, 60), notifications=True) as pilot:
        await loaded(pilot, app)
        text = screen_text(app)
        for name in HOSTILE:
            assert SHOWN[name] in text, name
            cell = app.query_one("#queues", DataTable).get_cell(name, "entrypoint")
            assert isinstance(cell, Text) and cell.spans == [] and not cell.style
        assert "[reverse]host" in text  # literal (cut to the column), never a style
        workers_title = str(app.query_one("#workers", DataTable).border_subtitle)
        assert "1 other" in workers_title and "reverse" not in workers_title
        failures = app.query_one("#failures", DataTable)
        error = failures.get_cell(str(app.state.failures[0].id), "error")
        assert isinstance(error, Text)
        # Cut to the column's width, but literal: the markup and escapes are there as text.
        assert error.plain.startswith("[/] boom \\x1b]0;pwned\\x07 [rever")
        assert not [span for span in error.spans if "reverse" in str(span.style)]
        assert "\x1b" not in screen_text(app) and "\x07" not in screen_text(app)

        # A toast naming the entrypoint: `p` on the `[reverse]X[/reverse]` row.
        queues = app.query_one("#queues", DataTable)
        queues.focus()
        queues.move_cursor(row=[r.value for r in queues.rows].index("[reverse]X[/reverse]"))
        await pilot.press("p")
        await until(pilot, lambda: "paused [reverse]X[/reverse] for" in str(notifications(app)))
        assert not [n for n in app._notifications if n.markup]
        await until(pilot, lambda: "[reverse]X[/reverse]" in toasts(app))

        # Every dialog that names it.
        for key, kind, question in (
            ("T", ChoiceScreen, "Pause [reverse]X[/reverse] for…"),
            ("d", ConfirmScreen, "Delete 1 queued job of [reverse]X[/reverse]?"),
            ("R", ConfirmScreen, "Requeue 1 failed job of [reverse]X[/reverse]"),
            ("e", EnqueueScreen, "[reverse]X[/reverse]"),
        ):
            await pilot.press(key)
            await until(pilot, lambda kind=kind: isinstance(app.screen, kind))
            await until(pilot, lambda question=question: question in screen_text(app), 4)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, kind))  # noqa: B023
            assert_alive(app)
        queues.move_cursor(row=[r.value for r in queues.rows].index("esc\x1b[31mred\x07"))
        await pilot.press("d")
        await until(pilot, lambda: "job of esc\\x1b[31mred\\x07?" in screen_text(app))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))

        # The jobs browser with markup in a payload preview, then one job's detail.
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen))
        browser = app.screen
        assert isinstance(browser, JobsScreen)
        browser.entrypoint = None
        browser.load()
        await until(pilot, lambda: "see [/x]" in screen_text(app))
        await until(pilot, lambda: "[link=https://evil.example]go[/link]" in screen_text(app))
        assert_alive(app)
        app.open_job(ids["[/]"])
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        detail = screen_text(app)
        assert f"Job {ids['[/]']} · [/] · queued" in detail
        assert '"text": "see [/x]"' in detail and '"style": "[bold]b[/bold]"' in detail
        await pilot.press("escape", "escape")
        await until(pilot, lambda: app.screen is app.screen_stack[0])

        # The failure's detail: the error and traceback as they were written.
        failures.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        detail = screen_text(app)
        assert "[/] boom \\x1b]0;pwned\\x07 [reverse]E[/reverse]" in detail
        assert "Traceback [bold]x[/bold]" in detail and "line\\x1b[2J here" in detail
        await pilot.press("escape")

        # Help and the command palette.
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.press(*"pause")
        await pilot.pause(0.3)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert_alive(app)
        assert not [n for n in notifications(app) if "Error" in n]


def test_the_console_exits_non_zero_when_it_crashes(dsn: str, names: ObjectNames) -> None:
    """Run the real command on a terminal with a pane that fails: Textual shows the error and
    the exit code says the console did not end well (it used to be 0)."""
    code = (
        "import sys\n"
        "from pgqtop.tui.panes.queues import QueuesPane\n"
        "def broken(self, state):\n"
        "    raise RuntimeError('pane exploded')\n"
        "QueuesPane.render_state = broken\n"
        "from pgqtop.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    leader, follower = os.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    screen: list[bytes] = []

    def drain() -> None:  # a terminal nobody reads would block the console's writes
        with contextlib.suppress(OSError):
            while chunk := os.read(leader, 65536):
                screen.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, "--dsn", dsn, "--prefix", names.prefix],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(follower)
        reader.join(5)
        os.close(leader)
    assert b"pane exploded" in b"".join(screen)
    assert done.returncode != 0
