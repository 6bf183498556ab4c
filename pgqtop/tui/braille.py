"""A faster way for plotext to group a line's points into braille characters.

Drawing the throughput chart is a large part of what the console spends while jobs flow, and
most of a plotext build is `plotext._utility.hd_group`: for every point of every line it builds a
fresh grid, flattens it through a recursive join and tests each value twice. `group` returns
exactly what that function returns, with one pass and no recursion. `install` puts it in
plotext's place only after checking, on a sample with shared cells and missing values, that
both give the same result; a plotext whose function has changed keeps its own.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from plotext import _utility

Number = Any
"""plotext hands over floats, and None or NaN for a gap."""


def _numerical(value: Number) -> bool:
    return not (value is None or math.isnan(value))


MOST_DOTS = 8
"""A braille character's dots (2 x 4): larger markers take the general way."""
Cell = tuple[Number, Number]
Grouped = tuple[list[Number], list[Number], list[tuple[int, ...]]]


def group(x: Sequence[Number], y: Sequence[Number], xf: list[int], yf: list[int]) -> Grouped:
    """The character cells a line's points fall in, and which dots of each cell are set.

    As plotext does it: the cells keep the order in which they were first reached, and each
    cell's dots are listed bottom row first. A line drawn with one marker (every point the
    same size, as the chart's lines are) takes the quick way: each cell's dots as the bits of
    one integer."""
    width, height = xf[-1], yf[-1]
    if xf.count(width) != len(xf) or yf.count(height) != len(yf) or width * height > MOST_DOTS:
        return _mixed(x, y, xf, yf)
    cells: dict[Cell, int] = {}
    for xi, yi in zip(x, y, strict=True):
        kx = xi // width if xi is not None and xi == xi else xi
        ky = yi // height if yi is not None and yi == yi else yi
        key = (kx, ky)
        dots = cells.get(key, 0)
        # A coordinate that is missing, NaN or infinite leaves its cell without a dot.
        if kx is not None and ky is not None and kx == kx and ky == ky:
            row = height - 1 - math.floor(yi % height)
            dots |= 1 << (row * width + math.floor(xi % width))
        cells[key] = dots
    spelled = _spelled(width * height)
    return (
        [key[0] for key in cells],
        [key[1] for key in cells],
        [spelled[d] for d in cells.values()],
    )


@functools.cache
def _spelled(size: int) -> tuple[tuple[int, ...], ...]:
    """Every set of `size` dots as plotext lists it (one 0 or 1 per dot), by its bits."""
    return tuple(tuple((dots >> i) & 1 for i in range(size)) for dots in range(1 << size))


def _mixed(x: Sequence[Number], y: Sequence[Number], xf: list[int], yf: list[int]) -> Grouped:
    """Points of several marker sizes in one line, as plotext places them: a cell's grid takes
    the size of the last point that falls in it, and the dots the size of the line's last
    point."""
    x_size, y_size = max(xf), max(yf)
    keys = [
        (
            xi // x_size if _numerical(xi) else xi,
            yi // y_size if _numerical(yi) else yi,
        )
        for xi, yi in zip(x, y, strict=True)
    ]
    sizes: dict[Cell, tuple[int, int]] = {}
    for key, w, h in zip(keys, xf, yf, strict=True):
        sizes[key] = (w, h)
    grids = {key: [[0] * w for _ in range(h)] for key, (w, h) in sizes.items()}
    width, height = xf[-1], yf[-1]
    for key, xi, yi in zip(keys, x, y, strict=True):
        if _numerical(key[0]) and _numerical(key[1]):
            grids[key][math.floor(yi % height)][math.floor(xi % width)] = 1
    return (
        [key[0] for key in grids],
        [key[1] for key in grids],
        [tuple(dot for row in reversed(grid) for dot in row) for grid in grids.values()],
    )


_SAMPLE = (
    [0.0, 1.0, 1.5, 3.0, 3.2, float("nan"), 7.0, 7.0, 9.9, 2.0, None, 0.5],
    [0.0, 3.0, 3.5, 7.0, 1.0, 2.0, float("nan"), 6.5, 9.0, 0.5, 4.0, 0.25],
    [2] * 12,
    [4] * 12,
)
"""Points that share cells, points in a cell reached again later, and gaps."""


PLOTEXT_OWN: Callable[..., Grouped] | None = getattr(_utility, "hd_group", None)
"""plotext's own function, as it was before `install`."""


def install() -> bool:
    """Use `group` in plotext when it agrees with plotext's own function; True when it is
    in place."""
    if PLOTEXT_OWN is None:
        return False
    if _utility.hd_group is group:
        return True
    try:
        agrees = PLOTEXT_OWN(*_SAMPLE) == group(*_SAMPLE)
    except Exception:
        agrees = False
    if agrees:
        _utility.hd_group = group
    return agrees
