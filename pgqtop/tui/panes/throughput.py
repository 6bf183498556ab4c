"""Completions per second per entrypoint, successes against failures, or latency, over a
window of 1m / 15m / 1h / 24h, drawn with plotext from the statistics series in state."""

from __future__ import annotations

from collections import defaultdict

from textual.color import Color
from textual_plotext import PlotextPlot

from pgqtop.db.rows import SeriesPoint
from pgqtop.model import FAILED_OUTCOMES, WORKER_OUTCOMES, Status
from pgqtop.tui.state import ConsoleState
from pgqtop.tui.themes import text_colours

MAX_LINES = 6


class ThroughputPane(PlotextPlot):
    BORDER_TITLE = "Throughput"
    DEFAULT_CSS = "ThroughputPane { border: round $primary; height: 1fr; }"

    def __init__(self) -> None:
        super().__init__(id="throughput")
        self._drawn: tuple[object, ...] = ()

    def render_state(self, state: ConsoleState) -> None:
        window = state.chart_window
        key = (state.series_at, window, state.chart_view, state.filter_text, self.app.theme)
        if key == self._drawn:
            return
        self._drawn = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        now = state.series_at or state.clock()
        needle = state.filter_text.lower()
        left = -window.seconds / window.unit_seconds

        def x_of(point: SeriesPoint) -> float:
            # Clamped: the database clock may run a little ahead of ours, and plotext fails
            # on points outside the axis limits.
            return min(0.0, round((point.bucket.timestamp() - now) / window.unit_seconds, 2))

        points = [
            p
            for p in state.series
            if (not needle or needle in p.entrypoint.lower()) and x_of(p) >= left
        ]

        view = state.chart_view
        titles = {
            "rate": "completions/s by entrypoint",
            "outcomes": "successes vs failures per second",
            "latency": "seconds in queue / running (avg, max)",
        }
        self.border_title = f"Throughput · {titles[view]} · {window.label}"
        plt.xlabel(f"{window.unit} ago")
        plt.xlim(left, 0)
        if view == "rate":
            series: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
            for p in points:
                if p.status in WORKER_OUTCOMES:
                    series[p.entrypoint][x_of(p)] += p.count / window.bucket
            busiest = sorted(series, key=lambda e: -sum(series[e].values()))[:MAX_LINES]
            for name in busiest:
                xs = sorted(series[name])
                plt.plot(xs, [series[name][x] for x in xs], label=name, marker="braille")
        elif view == "outcomes":
            good: dict[float, float] = defaultdict(float)
            bad: dict[float, float] = defaultdict(float)
            for p in points:
                if p.status == Status.SUCCESSFUL:
                    good[x_of(p)] += p.count / window.bucket
                elif p.status in FAILED_OUTCOMES:
                    bad[x_of(p)] += p.count / window.bucket
            ink = text_colours(self.app)
            ok, failed = Color.parse(ink.success).rgb, Color.parse(ink.error).rgb
            for label, data, colour in (("ok", good, ok), ("failed", bad, failed)):
                if data:
                    xs = sorted(data)
                    plt.plot(xs, [data[x] for x in xs], label=label, color=colour, marker="braille")
        else:
            sums: dict[str, dict[float, float]] = {
                k: defaultdict(float) for k in ("queue", "run", "count")
            }
            peaks: dict[str, dict[float, float]] = {
                "queue": defaultdict(float),
                "run": defaultdict(float),
            }
            for p in points:
                if p.status not in WORKER_OUTCOMES or p.count == 0:
                    continue
                x = x_of(p)
                sums["queue"][x] += p.queue_seconds_sum
                sums["run"][x] += p.run_seconds_sum
                sums["count"][x] += p.count
                peaks["queue"][x] = max(peaks["queue"][x], p.queue_seconds_max)
                peaks["run"][x] = max(peaks["run"][x], p.run_seconds_max)
            xs = sorted(sums["count"])
            if xs:
                for kind in ("queue", "run"):
                    plt.plot(
                        xs,
                        [sums[kind][x] / sums["count"][x] for x in xs],
                        label=f"{kind} avg",
                        marker="braille",
                    )
                    plt.plot(xs, [peaks[kind][x] for x in xs], label=f"{kind} max", marker="dot")
        if not points:
            plt.title("no completions in this window")
        self.refresh()
