"""The README's CLI reference is the parser's own help: a flag added without it fails here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_cli_reference_matches_the_parser() -> None:
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "scripts/cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert module.reference() in (ROOT / "README.md").read_text(encoding="utf-8"), (
        "README's CLI reference is stale: run python scripts/cli_reference.py"
    )
