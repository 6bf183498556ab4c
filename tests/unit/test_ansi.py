"""The chart's ANSI turned into lines directly draws what rich's `Text.from_ansi` draws, cell
for cell and style for style."""

from __future__ import annotations

from plotext._dict import themes
from rich.console import Console
from rich.text import Text
from textual.strip import Strip
from textual_plotext.plot import Plot, _rgbify_theme, _sequence

from pgqtop.tui.ansi import ansi_lines

WIDTH, HEIGHT = 78, 26


def chart() -> str:
    themes["pgqtop-test"] = _rgbify_theme(
        (30, 30, 40), (30, 30, 40), (220, 220, 220), "default", _sequence
    )
    plot = Plot()
    xs = [float(second - 60) for second in range(61)]
    for line in range(6):
        ys = [float(1 + (second + line) % 20) for second in range(61)]
        plot.plot(xs, ys, label=f"entrypoint_{line}", marker="braille")
    plot.vline(-30.0, (200, 40, 40))
    plot.title("│ pause / resume")
    plot.xlabel("s ago")
    plot.xlim(-60, 0)
    plot.ylim(0, 22)
    plot.plotsize(WIDTH, HEIGHT)
    plot._set_size(WIDTH, HEIGHT)
    plot.theme("pgqtop-test")
    return plot.build()


def cells(strip: Strip) -> list[tuple[str, object]]:
    return [(char, segment.style) for segment in strip for char in segment.text]


def test_a_chart_draws_as_rich_decodes_it() -> None:
    ansi = chart()
    console = Console(width=WIDTH, color_system="truecolor")
    options = console.options.update(width=WIDTH, no_wrap=True)
    expected = [
        Strip(line) for line in console.render_lines(Text.from_ansi(ansi), options, pad=False)
    ]
    drawn = ansi_lines(ansi)
    assert len(drawn) == len(expected)
    assert [cells(line) for line in drawn] == [cells(line) for line in expected]
    assert any(segment.style and segment.style.color for line in drawn for segment in line)


def test_a_reset_ends_the_colour() -> None:
    (line,) = ansi_lines("\x1b[38;5;9mred\x1b[0m plain")
    assert [(segment.text, segment.style is None) for segment in line] == [
        ("red", False),
        (" plain", True),
    ]
