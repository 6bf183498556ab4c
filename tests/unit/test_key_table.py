"""The console's one key table: every key and action once, and every action one the app has."""

from __future__ import annotations

from collections import Counter

from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.keys import COMMANDS, bindings, command_for


def action_name(action: str) -> str:
    """`chart_window('1m')` -> `chart_window`: the method, without its arguments."""
    return action.split("(", 1)[0]


def test_no_key_and_no_action_appears_twice() -> None:
    keys = Counter(command.key for command in COMMANDS)
    actions = Counter(command.action for command in COMMANDS)
    assert [key for key, n in keys.items() if n > 1] == []
    assert [action for action, n in actions.items() if n > 1] == []


def test_every_action_is_a_method_of_the_app() -> None:
    missing = [
        command.action
        for command in COMMANDS
        if not callable(getattr(PgqtopApp, f"action_{action_name(command.action)}", None))
    ]
    assert missing == []


def test_bindings_and_lookups_come_from_the_same_table() -> None:
    assert [(b.key.split(",")[0], b.action) for b in bindings()] == [
        (c.key, c.action) for c in COMMANDS
    ]
    for command in COMMANDS:
        assert command_for(command.action) is command
