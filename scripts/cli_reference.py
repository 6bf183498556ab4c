"""Rewrite the README's CLI reference from the parser itself, so the two cannot drift.

python scripts/cli_reference.py          # rewrites README.md in place
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pgqtop.cli import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
START = "## CLI reference\n"
END = "## Benchmarks\n"


def reference() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps help text to the terminal width
    parser = build_parser()
    parts = [START, "\nGenerated from `pgqtop --help` and `pgqtop COMMAND --help`.\n"]
    parts.append(f"\n### pgqtop\n```text\n{parser.format_help()}```\n")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                parts.append(f"\n### pgqtop {name}\n```text\n{sub.format_help()}```\n")
    return "".join(parts) + "\n"


def main() -> None:
    text = README.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    README.write_text(before + reference() + END + after, encoding="utf-8")


if __name__ == "__main__":
    main()
