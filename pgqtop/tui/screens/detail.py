"""Everything about one failure or one job: payload (JSON, text, or hex), headers, timings,
and the full traceback."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from pgqtop.db.rows import FailureDetail
from pgqtop.model import Job
from pgqtop.tui import format
from pgqtop.tui.state import Clock
from pgqtop.tui.themes import TextColours

HEX_LIMIT = 512


def decode_payload(payload: bytes | None) -> tuple[str, str]:
    """(kind, text): pretty JSON when it parses, text when it is UTF-8, else a hex dump."""
    if payload is None:
        return "empty", "(no payload)"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "hex", hex_dump(payload)
    try:
        return "json", json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return "text", text


def hex_dump(data: bytes) -> str:
    lines = []
    for offset in range(0, min(len(data), HEX_LIMIT), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  {printable}")
    if len(data) > HEX_LIMIT:
        lines.append(f"… {len(data) - HEX_LIMIT} more bytes")
    return "\n".join(lines)


def _ago(clock: Clock, when: dt.datetime | None) -> str:
    """`3m ago`, or `in 54m` for a time still ahead (a delayed job's due time)."""
    if when is None:
        return "-"
    return format.relative(when.timestamp() - clock())


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def _fields(pairs: list[tuple[str, Any]]) -> Text:
    text = Text()
    for name, value in pairs:
        text.append(f"{name:>14}  ", style="bold")
        text.append_text(format.literal(value))
        text.append("\n")
    return text


def _payload_block(payload: bytes | None) -> list[RenderableType]:
    kind, body = decode_payload(payload)
    size = "" if payload is None else f", {len(payload)} bytes"
    block: RenderableType = (
        Syntax(format.literal_block(body).plain, "json", theme="ansi_dark", word_wrap=True)
        if kind == "json"
        else format.literal_block(body)
    )
    return [_section(f"Payload ({kind}{size})"), block]


def _headers_block(headers: dict[str, Any] | None) -> list[RenderableType]:
    body = json.dumps(headers, indent=2, sort_keys=True) if headers else "(none)"
    return [_section("Headers"), format.literal_block(body)]


def failure_renderable(failure: FailureDetail, clock: Clock, ink: TextColours) -> RenderableType:
    ran_for = ""
    if failure.job_created is not None:
        ran_for = format.duration((failure.failed_at - failure.job_created).total_seconds())
    parts: list[RenderableType] = [
        format.literal(
            f"Failure {failure.id} · job {failure.job_id} · {failure.entrypoint}", "bold"
        ),
        format.literal_block(failure.error or failure.status, f"bold {ink.error}"),
        _section("Timings"),
        _fields(
            [
                ("status", failure.status + ("" if failure.final else " (will retry)")),
                ("attempts", failure.attempts),
                ("priority", failure.priority),
                ("job created", _ago(clock, failure.job_created)),
                ("failed", _ago(clock, failure.failed_at)),
                ("created→failed", ran_for or "-"),
                ("requeued", _ago(clock, failure.requeued_at)),
                ("worker", failure.worker_id or "-"),
            ]
        ),
        *_payload_block(failure.payload),
        *_headers_block(failure.headers),
        _section("Traceback"),
        format.literal_block(failure.traceback or "(none recorded)", ink.error),
    ]
    return Group(*parts)


def job_renderable(job: Job, clock: Clock) -> RenderableType:
    parts: list[RenderableType] = [
        format.literal(f"Job {job.id} · {job.entrypoint} · {job.status.value}", "bold"),
        _section("Timings"),
        _fields(
            [
                ("status", job.status.value),
                ("attempts", job.attempts),
                ("priority", job.priority),
                ("created", _ago(clock, job.created)),
                ("updated", _ago(clock, job.updated)),
                ("runs after", _ago(clock, job.execute_after)),
                ("heartbeat", _ago(clock, job.heartbeat)),
                ("worker", job.worker_id or "-"),
                ("dedupe key", job.dedupe_key or "-"),
            ]
        ),
        *_payload_block(job.payload),
        *_headers_block(job.headers),
    ]
    return Group(*parts)


class DetailScreen(Screen[None]):
    """Read-only view of one record; Escape goes back."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]
    DEFAULT_CSS = "DetailScreen VerticalScroll { padding: 0 2; }"

    def __init__(
        self,
        body: RenderableType,
        title: str,
        *,
        kind: str = "",
        record: int | None = None,
        entrypoint: str | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.title = title
        self.kind = kind
        """"job" or "failure": which keys act here."""
        self.record = record
        self.entrypoint = entrypoint

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.body, id="detail")
        yield Footer()
