"""plotext's output, ANSI colour codes and all, as the lines Textual draws.

`Text.from_ansi` and the rendering Textual gives any rich Text took longer than plotext took
to build the chart (about 20 ms and 10 ms for a chart of 78x26 cells, each time it slides).
A chart has a handful of colours: each run of codes since a reset is decoded once, by rich's
own decoder so the styles are the ones `from_ansi` gives, and remembered.
"""

from __future__ import annotations

import functools
import re

from rich.ansi import AnsiDecoder
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual

SGR = re.compile(r"\x1b\[([0-9;]*)m")
"""Select Graphic Rendition, the only escape plotext writes."""
RESETS = ("", "0")


@functools.lru_cache(maxsize=512)
def _style(codes: tuple[str, ...]) -> RichStyle | None:
    """The style a run of SGR codes sets, read after a reset (by a decoder of its own: one
    carries its style from line to line)."""
    if not codes:
        return None
    text = AnsiDecoder().decode_line("".join(f"\x1b[{code}m" for code in codes) + " ")
    if not text.spans:
        return None
    style = text.spans[0].style
    return style if isinstance(style, RichStyle) else RichStyle.parse(style)


def ansi_lines(ansi: str) -> list[Strip]:
    """Each line of `ansi` as a strip of styled segments."""
    lines = []
    for line in ansi.split("\n"):
        segments = []
        codes: tuple[str, ...] = ()
        at = 0
        for found in SGR.finditer(line):
            if found.start() > at:
                segments.append(Segment(line[at : found.start()], _style(codes)))
            code = found.group(1)
            codes = () if code in RESETS else (*codes, code)
            at = found.end()
        if at < len(line):
            segments.append(Segment(line[at:], _style(codes)))
        lines.append(Strip(segments).simplify())
    return lines


class AnsiCanvas(Visual):
    """Lines already styled (`ansi_lines`), drawn over the widget's own style."""

    def __init__(self, lines: list[Strip]) -> None:
        self.lines = lines

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        base = style.rich_style
        shown = self.lines if height is None else self.lines[:height]
        return [line.apply_style(base).crop_extend(0, width, base) for line in shown]

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return max((line.cell_length for line in self.lines), default=0)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self.lines)
