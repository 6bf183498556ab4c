"""Loading the user's `module:function` that registers entrypoints on a QueueManager."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pgqtop.errors import UsageError
from pgqtop.model import first_line

if TYPE_CHECKING:
    from pgqtop.engine.manager import QueueManager


class FactoryError(UsageError):
    """The factory could not be loaded or did not register anything usable."""


def load_factory(spec: str) -> Callable[..., Any]:
    """Import `module:function` with the current directory on sys.path."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise FactoryError(f"--factory {spec!r}: expected MODULE:FUNCTION, e.g. jobs:register")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may raise anything while importing
        raise FactoryError(
            f"--factory {spec!r}: cannot import {module_name!r}: {_describe_failure(exc)}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FactoryError(
                f"--factory {spec!r}: module {module_name!r} has no {attribute!r}"
            ) from None
    if not callable(target):
        raise FactoryError(f"--factory {spec!r}: {attribute!r} is not callable")
    factory: Callable[..., Any] = target
    return factory


async def apply_factory(spec: str, manager: QueueManager) -> None:
    """Run the factory (sync or async) on `manager`; it must register at least one entrypoint."""
    factory = load_factory(spec)
    try:
        result = factory(manager)
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        raise FactoryError(f"--factory {spec!r} failed: {_describe_failure(exc)}") from None
    if not manager.entrypoints:
        raise FactoryError(f"--factory {spec!r} registered no entrypoints")


def restrict_entrypoints(manager: QueueManager, wanted: list[str] | None) -> None:
    """Keep only the `--entrypoint` names; naming one the factory did not register is an error."""
    if not wanted:
        return
    unknown = sorted(set(wanted) - set(manager.entrypoints))
    if unknown:
        raise FactoryError(
            f"--entrypoint {', '.join(unknown)}: not registered by the factory "
            f"(it registers: {', '.join(manager.entrypoints)})"
        )
    manager.keep_only(wanted)


def _describe_failure(exc: BaseException) -> str:
    """`Type: first line of the message`, plus where a SyntaxError is."""
    text = first_line(exc, typed=True)
    if isinstance(exc, SyntaxError) and exc.filename:
        text += f" ({exc.filename}, line {exc.lineno})"
    return text
