"""Completions per second per entrypoint, successes against failures, latency, queue depth or
the oldest due job's wait, over a window of 1m / 15m / 1h / 24h, drawn with plotext.

Completions are zero-filled over every bucket of the window (pgqtop.tui.charts), the y axis
starts at zero, and the pauses and resumes of the audit trail are marked as vertical lines.
The figure is built again only when its data, window, view, filter, theme or bucket changes,
and plotext draws it again only when what it would show differs from what it shows (an idle
minute of zeros looks the same a second later).
"""

from __future__ import annotations

from typing import Any

from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot

from pgqtop.model.messages import printable
from pgqtop.tui import braille, charts
from pgqtop.tui.ansi import AnsiCanvas, ansi_lines
from pgqtop.tui.panes.tables import clip, set_title
from pgqtop.tui.state import ConsoleState
from pgqtop.tui.themes import text_colours

MAX_LINES = 6
TITLES = {
    "rate": "completions/s by entrypoint",
    "outcomes": "successes vs failures per second",
    "latency": "seconds waiting / running, p50 and p95 by entrypoint",
    "depth": "due jobs by entrypoint (history)",
    "oldest": "oldest due job's wait, seconds (history)",
}


class ThroughputPane(PlotextPlot):
    BORDER_TITLE = "Throughput"
    DEFAULT_CSS = "ThroughputPane { border: round $primary; height: 1fr; }"

    def __init__(self) -> None:
        super().__init__(id="throughput")
        braille.install()  # most of drawing the chart is plotext grouping dots into characters
        self._drawn: tuple[object, ...] = ()
        self._figure: object = None
        """What the last drawn figure showed: lines, marks, titles and scale."""
        self.plotted: dict[str, tuple[list[float], list[float]]] = {}
        """What the last draw handed to plotext, line by line: x (window units ago) and y."""
        self.marked: list[charts.Mark] = []
        """The pauses and resumes the last draw marked."""

    def render(self) -> RenderResult:
        """What PlotextPlot.render draws, plotext's ANSI turned into lines directly
        (`pgqtop.tui.ansi`) rather than through rich's `Text.from_ansi`: most of the cost of a
        chart that slides."""
        width, height = self.size
        plot = self.plt
        try:
            set_size = plot._set_size
            theme = self._get_plotext_theme_name(self.app.theme)
        except AttributeError:  # a textual-plotext without these hooks: its own way
            return super().render()
        plot.plotsize(width, height)
        set_size(width, height)  # as PlotextPlot.render does: resizing needs both
        plot.theme(theme)
        return AnsiCanvas(ansi_lines(plot.build()))

    def render_state(self, state: ConsoleState) -> None:
        window = state.chart_window
        now = state.series_at or state.clock()
        frame = charts.buckets(now, window.seconds, window.bucket)
        key = (
            tuple(state.series),
            tuple(state.chart_history),
            tuple(state.chart_audit),
            state.chart_latency_key,
            frame.starts[-1],
            window,
            state.chart_view,
            state.filter_text,
            self.app.theme,
        )
        if key == self._drawn:
            return
        self._drawn = key
        self._draw(state, frame, now)

    def _x(self, at: float, now: float, unit: float) -> float:
        # Clamped: the database clock may run a little ahead of ours, and plotext fails on
        # points outside the axis limits.
        return min(0.0, round((at - now) / unit, 3))

    def _line(self, label: str, xs: list[float], ys: list[float], **style: Any) -> None:
        self.plotted[label] = (xs, ys)
        self.plt.plot(xs, ys, label=printable(label), **style)

    def _draw(self, state: ConsoleState, frame: charts.Buckets, now: float) -> None:
        window = state.chart_window
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.plotted = {}
        needle = state.filter_text.lower()
        unit = window.unit_seconds
        left = -window.seconds / unit
        since = now - window.seconds
        view = state.chart_view
        # Assigned only when it changes: any assignment draws the whole chart again.
        set_title(self, f"Throughput · {TITLES[view]} · {window.label}")
        if view != "latency":
            plt.xlabel(f"{window.unit} ago")
            plt.xlim(left, 0)
        points = [
            p
            for p in state.series
            if (not needle or needle in p.entrypoint.lower()) and p.bucket.timestamp() >= since
        ]
        xs = [self._x(start, now, unit) for start in frame.starts]
        top = 0.0
        ink = text_colours(self.app)
        empty = "no completions in this window"
        if view == "rate":
            series = charts.rates(points, frame, charts.WORKER_STATUSES)
            for name in charts.busiest(series, MAX_LINES):
                self._line(name, xs, series[name], marker="braille")
                top = max(top, *series[name])
        elif view == "outcomes":
            colours = {"ok": Color.parse(ink.success).rgb, "failed": Color.parse(ink.error).rgb}
            for label, values in charts.outcome_rates(points, frame).items():
                self._line(label, xs, values, color=colours[label], marker="braille")
                top = max(top, *values)
        elif view == "latency":
            top = self._percentiles(state)
            empty = "no completions in this window"
        else:
            field = "due" if view == "depth" else "oldest"
            times, lines = charts.history_lines(state.chart_history, field, since)
            wanted = {n: v for n, v in lines.items() if not needle or needle in n.lower()}
            sample_xs = [self._x(t, now, unit) for t in times]
            for name in charts.busiest(wanted, MAX_LINES):
                self._line(name, sample_xs, wanted[name], marker="braille")
                top = max(top, *wanted[name])
            empty = "no queue history in this window (workers take it)"
        self.marked = (
            [] if view == "latency" else charts.pause_marks(state.chart_audit, since, needle)
        )
        tones = {"pause": Color.parse(ink.error).rgb, "resume": Color.parse(ink.success).rgb}
        for mark in self.marked:
            plt.vline(self._x(mark.at, now, unit), tones[mark.action])
        if self.marked:
            plt.title("│ pause / resume")
        quiet = not any(any(ys) for _, ys in self.plotted.values())
        if quiet:
            plt.title(empty)
        plt.ylim(0, top * 1.1 if top > 0 else 1)
        figure = (
            {label: (tuple(xs), tuple(ys)) for label, (xs, ys) in self.plotted.items()},
            [(self._x(mark.at, now, unit), mark.action) for mark in self.marked],
            self.border_title,
            quiet,
            top,
            self.app.theme,
        )
        if view == "latency" or figure != self._figure:
            self._figure = figure
            self.refresh()

    def _percentiles(self, state: ConsoleState) -> float:
        """Wait and run p50/p95 of the busiest entrypoints over the window, from the
        statistics' latency histograms (each within a factor of about 1.58 of the truth)."""
        needle = state.filter_text.lower()
        found = {
            name: latency
            for name, latency in state.chart_latency.items()
            if (not needle or needle in name.lower()) and latency.run.count
        }
        names = sorted(found, key=lambda n: (-found[n].run.count, n))[:MAX_LINES]
        if not names:
            return 0.0
        plt = self.plt
        series = {
            "wait p50": [found[n].wait.p50 or 0.0 for n in names],
            "wait p95": [found[n].wait.p95 or 0.0 for n in names],
            "run p50": [found[n].run.p50 or 0.0 for n in names],
            "run p95": [found[n].run.p95 or 0.0 for n in names],
        }
        labels = [clip(printable(n), 14) for n in names]
        for label, values in series.items():
            self.plotted[label] = ([float(i) for i in range(len(names))], values)
        # plotext names the bar labels `labels`; its type stub says `label`.
        plt.multiple_bar(labels, list(series.values()), labels=list(series))  # type: ignore[call-arg]
        return max(max(values) for values in series.values())
