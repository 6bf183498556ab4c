"""The quick braille grouping gives exactly what plotext's own gives, for any line."""

from __future__ import annotations

import math
import random

import plotext
import pytest
from plotext import _utility

from pgqtop.tui import braille

GAPS = [float("nan"), None, math.inf, -math.inf]


def line(rng: random.Random, points: int) -> list[object]:
    """Coordinates as plotext hands them over: floats and ints, negative ones, repeated
    cells, and gaps."""
    values: list[object] = []
    for _ in range(points):
        roll = rng.random()
        if roll < 0.08:
            values.append(rng.choice(GAPS))
        elif roll < 0.5:
            values.append(rng.uniform(-10, 200))
        else:
            values.append(rng.choice([float(rng.randint(-5, 40)), rng.randint(-5, 40)]))
    return values


def outcome(grouping: object, *args: object) -> str:
    """What a grouping returns, or the kind of error it raises; as text, since NaN is never
    equal to itself."""
    try:
        return repr(grouping(*args))  # type: ignore[operator]
    except Exception as error:
        return f"raises {type(error).__name__}"


@pytest.mark.parametrize("seed", range(8))
def test_the_quick_grouping_agrees_with_plotext_on_any_line(seed: int) -> None:
    assert braille.PLOTEXT_OWN is not None
    rng = random.Random(seed)
    for _ in range(400):
        points = rng.randint(1, 80)
        x, y = line(rng, points), line(rng, points)
        if rng.random() < 0.7:
            xf = [rng.choice([1, 2])] * points
            yf = [rng.choice([1, 2, 3, 4])] * points
        else:  # one line, several marker sizes
            xf = [rng.choice([1, 2]) for _ in range(points)]
            yf = [rng.choice([1, 2, 3, 4]) for _ in range(points)]
        own = outcome(braille.PLOTEXT_OWN, x, y, xf, yf)
        assert outcome(braille.group, x, y, xf, yf) == own, (x, y, xf, yf)


def test_a_chart_drawn_either_way_is_the_same() -> None:
    """A whole plotext figure of six braille lines, built with plotext's grouping and with the
    quick one."""
    rng = random.Random(7)
    xs = [float(i - 60) for i in range(61)]
    lines = [[rng.uniform(0, 400) for _ in xs] for _ in range(6)]

    def draw() -> str:
        plotext.clear_data()
        plotext.clear_figure()
        plotext.plotsize(80, 28)
        for n, ys in enumerate(lines):
            plotext.plot(xs, ys, label=f"entry {n}", marker="braille")
        plotext.xlim(-60, 0)
        plotext.ylim(0, 440)
        return str(plotext.build())

    installed = _utility.hd_group
    try:
        _utility.hd_group = braille.PLOTEXT_OWN
        theirs = draw()
        _utility.hd_group = braille.group
        ours = draw()
    finally:
        _utility.hd_group = installed
    assert "⣿" in theirs or "⡇" in theirs or "⠁" in theirs, "the figure has braille in it"
    assert ours == theirs


def test_install_puts_the_quick_grouping_in_place() -> None:
    assert braille.install()
    assert _utility.hd_group is braille.group
