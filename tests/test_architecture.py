"""The floors of the house hold: each layer imports only what lies below it.

Every import in the package is read with `ast`, wherever it stands: at the top of a module,
inside a function, or under `if TYPE_CHECKING:`. A lazy or typing-only import is still a
dependency of the layer that writes it.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pgqtop"


@dataclasses.dataclass(frozen=True)
class Rule:
    """What the modules of `layer` (the module itself and everything under it) may import of
    ours: only `allowed` when it is given (their own layer always), never `forbidden`."""

    layer: str
    allowed: tuple[str, ...] | None = None
    forbidden: tuple[str, ...] = ()


RULES = (
    Rule("pgqtop.errors", allowed=()),
    Rule("pgqtop.config", allowed=("pgqtop.errors",)),
    Rule("pgqtop.model", allowed=("pgqtop.errors",)),
    Rule("pgqtop.db", allowed=("pgqtop.model", "pgqtop.config", "pgqtop.errors")),
    Rule(
        "pgqtop.engine",
        forbidden=("pgqtop.tui", "pgqtop.commands", "pgqtop.operations", "pgqtop.testing"),
    ),
    # The testing kit drives the engine like a worker does; it needs no UI and no CLI.
    Rule("pgqtop.testing", forbidden=("pgqtop.tui", "pgqtop.commands", "pgqtop.operations")),
    Rule("pgqtop.cli", forbidden=("pgqtop.tui",)),
)


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    """Whether `name` is a module or package of ours (rather than an attribute of one)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(module: str, source: str) -> list[tuple[int, str]]:
    """(line, module) for every import of ours in `source`, at any depth."""
    is_package = is_module(module) and (PACKAGE.parent.joinpath(*module.split("."))).is_dir()
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if is_module(candidate) else base))
    return [(line, name) for line, name in found if within(name, "pgqtop")]


def violations_in(module: str, source: str, where: str) -> list[str]:
    problems = []
    for rule in RULES:
        if not within(module, rule.layer):
            continue
        for line, target in imports_of(module, source):
            if within(target, rule.layer):
                continue
            if rule.allowed is not None and not any(within(target, a) for a in rule.allowed):
                allowed = ", ".join(rule.allowed) or "nothing of ours"
                problems.append(f"{where}:{line}: {target} ({rule.layer} imports {allowed})")
            if any(within(target, f) for f in rule.forbidden):
                problems.append(f"{where}:{line}: {target} ({rule.layer} must not)")
    return problems


def package_modules() -> list[tuple[str, Path]]:
    return [(module_name(path), path) for path in sorted(PACKAGE.rglob("*.py"))]


def test_every_layer_imports_only_what_lies_below_it() -> None:
    problems = [
        problem
        for module, path in package_modules()
        for problem in violations_in(
            module, path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent))
        )
    ]
    assert problems == []


def test_the_scan_sees_the_package_and_its_imports() -> None:
    """Guards the test above against passing on an empty scan."""
    modules = dict(package_modules())
    assert {"pgqtop.model", "pgqtop.db.worker", "pgqtop.engine.manager", "pgqtop.cli"} <= set(
        modules
    )
    worker = imports_of("pgqtop.db.worker", modules["pgqtop.db.worker"].read_text())
    assert any(within(name, "pgqtop.model") for _, name in worker)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pgqtop.db.worker", "from pgqtop.engine.link import Link\n"),
        ("pgqtop.db.worker", "def later():\n    import pgqtop.tui.app\n"),
        (
            "pgqtop.db.console",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from pgqtop.operations import snapshot\n",
        ),
        ("pgqtop.db.rows", "from pgqtop import engine\n"),
        ("pgqtop.db.statements.worker", "from ...engine import manager\n"),
        ("pgqtop.model.job", "from pgqtop.config import ObjectNames\n"),
        ("pgqtop.model", "from pgqtop import __version__\n"),
        ("pgqtop.engine.manager", "def ui():\n    from pgqtop.tui.state import ConsoleState\n"),
        ("pgqtop.engine.control", "from pgqtop.commands.common import session\n"),
        ("pgqtop.cli", "def main():\n    from pgqtop.tui.settings import read_state\n"),
        ("pgqtop.errors", "from pgqtop.model import Job\n"),
    ],
)
def test_the_scan_catches_a_violation_wherever_it_is_written(module: str, source: str) -> None:
    assert violations_in(module, source, module)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pgqtop.db.worker", "from pgqtop.model import Job\nfrom pgqtop.db.rows import Row\n"),
        ("pgqtop.db.statements.worker", "from .. import rows\nfrom . import Renderer\n"),
        ("pgqtop.model.job", "from pgqtop.errors import UsageError\nimport psycopg\n"),
        ("pgqtop.engine.manager", "from pgqtop.db.rows import WorkerIdentity\n"),
        ("pgqtop.cli", "from pgqtop.config import profile_dsn\n"),
    ],
)
def test_the_scan_lets_allowed_imports_pass(module: str, source: str) -> None:
    assert violations_in(module, source, module) == []
