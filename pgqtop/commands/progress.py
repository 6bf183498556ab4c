"""A progress bar for the long operations of the command line (a million jobs enqueued, a
purge or requeue of 100,000 rows or more, an upgrade): drawn on a terminal's stderr, and
nothing at all when output goes to a pipe or a file, so scripts read only the result."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

LONG_OPERATION_ROWS = 100_000
"""From this many rows an operation shows its progress (below, it is done in about a second)."""

Advance = Callable[[int], None]
"""Told how many units are done so far."""


def wanted(
    total: int, *, threshold: int = LONG_OPERATION_ROWS, stream: TextIO | None = None
) -> bool:
    """Whether to draw a bar: a long operation, and both outputs on a terminal (piping either
    one means a script is reading, and a bar would be noise in its logs)."""
    err = stream if stream is not None else sys.stderr
    return total >= threshold and _is_terminal(err) and _is_terminal(sys.stdout)


def _is_terminal(stream: TextIO | None) -> bool:
    return stream is not None and stream.isatty()


@contextlib.contextmanager
def progress_bar(
    description: str, total: int, *, threshold: int = LONG_OPERATION_ROWS
) -> Iterator[Advance | None]:
    """A callback that moves a bar to `done` of `total`; None when no bar is wanted (the
    operation then runs in one go). The bar disappears when the block ends."""
    if not wanted(total, threshold=threshold):
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(done: int) -> None:
            bar.update(task, completed=done)

        yield advance
