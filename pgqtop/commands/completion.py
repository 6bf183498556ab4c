"""`pgqtop completion bash|zsh|fish`: a completion script for every command and flag, made
from the argument parser itself by shtab, so it cannot fall behind the CLI."""

from __future__ import annotations

import argparse
import sys

SHELLS = ("bash", "zsh", "fish")
PATH_METAVAR = "PATH"
"""Options shown with this metavar take a file name: the shell completes paths for them."""


def script(shell: str) -> str:
    """The completion script for `shell`."""
    import shtab

    from pgqtop.cli import build_parser

    parser = build_parser()
    for action in _every_action(parser):
        if action.metavar == PATH_METAVAR:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
    text: str = shtab.complete(parser, shell=shell)
    return text


def _every_action(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    found = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _every_action(sub)
    return found


def completion(args: argparse.Namespace) -> int:
    sys.stdout.write(script(args.shell))
    return 0
