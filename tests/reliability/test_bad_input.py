"""Bad input, end to end: refused in one clear line with nothing written, or carried through
intact. What tests/engine and the CLI tests already prove is not repeated here (see
docs/reliability.md for the map)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop import cli
from pgqtop.config import ObjectNames, Settings
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.producer import Queries, SyncQueries
from pgqtop.engine.manager import QueueManager
from pgqtop.errors import PayloadTooLarge
from pgqtop.model import Job, NewJob
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.screens.detail import decode_payload
from pgqtop.tui.themes import load_themes
from tests.reliability.conftest import (
    counted,
    fast_settings,
    remaining_jobs,
    running,
    scalar,
    sq,
)
from tests.waiting import eventually

# --- handlers that raise what is not an Exception ------------------------------------------------


async def test_sync_handlers_raising_base_exceptions_fail_the_job_and_the_worker_goes_on(
    dsn: str, names: ObjectNames, aconn: psycopg.AsyncConnection[Any]
) -> None:
    """The async case is tests/engine/test_handlers.py; here they come out of the thread pool."""
    manager = QueueManager(fast_settings(dsn, names))
    queries = ConsoleQueries(aconn, names)
    raised = {
        b"exit": SystemExit(3),
        b"interrupt": KeyboardInterrupt(),
        b"cancel": asyncio.CancelledError(),
    }
    done: list[int] = []

    @manager.entrypoint("threaded")
    def threaded(job: Job) -> None:
        if job.payload in raised:
            raise raised[job.payload]
        done.append(job.id)

    await queries.enqueue(["threaded"] * 3, list(raised))
    async with running(manager):
        await eventually(lambda: manager.counters.failed == 3, 10, "three failures")
        later = await queries.enqueue(["threaded"] * 5, None)
        await eventually(lambda: sorted(done) == sorted(later), 10, "the jobs after them")
        assert manager.state == "running"
    failures = await queries.recent_failures()
    assert {f.error for f in failures} == {
        "SystemExit: 3",
        "KeyboardInterrupt",
        "asyncio.exceptions.CancelledError",
    }
    assert remaining_jobs(dsn, names) == 0
    assert counted(dsn, names, "successful") == 5


# --- payloads -------------------------------------------------------------------------------------


async def test_oversize_payload_in_a_bulk_copy_writes_no_row_of_the_batch(
    names: ObjectNames, aconn: psycopg.AsyncConnection[Any], dsn: str
) -> None:
    """Plain enqueue is covered in tests/test_queries.py; COPY streams rows, so the refusal
    arrives mid-stream and must abort the whole COPY."""
    small = Queries(aconn, names, max_payload_bytes=64)
    jobs = [NewJob("bulk", b"x" * 10) for _ in range(50)] + [NewJob("bulk", b"x" * 65)]
    with pytest.raises(PayloadTooLarge, match="65 bytes exceeds the maximum of 64"):
        await small.enqueue_bulk(jobs)
    assert remaining_jobs(dsn, names) == 0
    assert await small.enqueue_bulk(jobs[:50]) == 50  # the connection is still usable


def test_oversize_payload_from_a_sync_producer_writes_nothing(
    names: ObjectNames, sync_conn: psycopg.Connection[Any], dsn: str
) -> None:
    producer = SyncQueries(sync_conn, names, max_payload_bytes=1024)
    with pytest.raises(PayloadTooLarge):
        producer.enqueue(["a", "b"], [b"ok", b"y" * (1024 * 1024)])
    assert remaining_jobs(dsn, names) == 0


NOT_UTF8 = b"\xff\xfe\x00binary\x80\xc3("


async def test_non_utf8_payload_reaches_the_handler_intact_and_the_console_shows_hex(
    settings: Settings,
    aconn: psycopg.AsyncConnection[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = settings.names
    manager = QueueManager(fast_settings(settings.dsn, names))
    seen: list[bytes | None] = []

    @manager.entrypoint("blob")
    async def blob(job: Job) -> None:
        seen.append(job.payload)
        job.text()  # not UTF-8: raises, and the failure keeps the payload for inspection

    queries = ConsoleQueries(aconn, names)
    (job_id,) = await queries.enqueue("blob", NOT_UTF8)
    (waiting_id,) = await queries.enqueue("blob", NOT_UTF8, execute_after=3600)
    async with running(manager):
        await eventually(lambda: manager.counters.failed == 1, 10, "the failure")
    assert seen == [NOT_UTF8]
    (failure,) = await queries.recent_failures()
    assert failure.job_id == job_id and "UnicodeDecodeError" in failure.error
    kind, text = decode_payload(NOT_UTF8)
    assert kind == "hex"
    assert text.startswith("00000000  ff fe 00 62 69 6e 61 72 79 80 c3 28")
    assert text.endswith("..binary..(")

    monkeypatch.setenv("PGQTOP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PGQTOP_STATE_DIR", str(tmp_path / "state"))
    app = PgqtopApp(settings, remember_state=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await eventually(lambda: app.state.connection == "connected", 10, "the console")
        app.open_job(waiting_id)

        def shown() -> str:
            return "\n".join(s.text for s in app.screen._compositor.render_strips())

        await eventually(lambda: "ff fe 00 62 69 6e 61 72 79" in shown(), 10, "the hex dump")
        await pilot.pause(0)


# --- names nobody should choose, but someone will ----------------------------------------------

AWKWARD = [
    'it\'s "quoted"',
    "with  spaces ",
    "naïve café 送信 📨",
    "x'); DROP TABLE jobs; --",
    "Robert'); DELETE FROM {jobs} WHERE ('1'='1",
    "%(worker)s %s {} $1",
    "back\\slash\ttab",
]


async def test_awkward_entrypoint_names_run_count_and_pause_verbatim(
    dsn: str, names: ObjectNames, aconn: psycopg.AsyncConnection[Any]
) -> None:
    manager = QueueManager(fast_settings(dsn, names))
    ran: dict[str, int] = {}

    async def handle(job: Job) -> None:
        ran[job.entrypoint] = ran.get(job.entrypoint, 0) + 1
        if job.payload == b"fail":
            raise RuntimeError(f"failed in {job.entrypoint}")

    for name in AWKWARD:
        manager.entrypoint(name)(handle)
    queries = ConsoleQueries(aconn, names)
    paused = AWKWARD[3]
    await queries.pause([paused], by="reliability test")
    await queries.enqueue(AWKWARD * 2, [None] * len(AWKWARD) + [b"fail"] * len(AWKWARD))
    async with running(manager):
        await eventually(
            lambda: sum(ran.values()) == 2 * (len(AWKWARD) - 1), 10, "every unpaused job"
        )
        await asyncio.sleep(0.5)
        assert paused not in ran, "the pause held for a name full of SQL"
        await queries.resume([paused])
        await eventually(lambda: ran.get(paused) == 2, 10, "the resumed entrypoint")
    assert ran == dict.fromkeys(AWKWARD, 2)
    rows = await (
        await aconn.execute(
            sq("SELECT entrypoint, status::text, sum(count) FROM {statistics} GROUP BY 1, 2", names)
        )
    ).fetchall()
    assert {(e, s, int(n)) for e, s, n in rows} == {
        (name, status, 1) for name in AWKWARD for status in ("successful", "exception")
    }
    errors = {f.entrypoint: f.error for f in await queries.recent_failures(limit=50)}
    # Error lines are stripped, so the trailing blank of "with  spaces " is not in them.
    assert errors == {name: f"RuntimeError: failed in {name}".strip() for name in AWKWARD}
    assert scalar(dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'jobs'") == 0


# --- files and factories --------------------------------------------------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pgqtop: error: "), err
    assert "Traceback" not in err
    return err


def test_malformed_config_toml_is_one_line_naming_the_file(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.toml").write_text('theme = "nord"\nrefresh = [1,\n')
    monkeypatch.setenv("PGQTOP_CONFIG_DIR", str(config))
    code = cli.main(["--dsn", settings.dsn, "--prefix", settings.names.prefix])
    err = one_line_error(capsys)
    assert code == 2
    assert "config.toml: malformed TOML" in err


def test_malformed_theme_is_one_line_and_the_good_themes_still_load(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("[colors\nprimary = '#fff'\n")
    (tmp_path / "fine.toml").write_text('name = "fine"\nprimary = "#336699"\n')
    themes = load_themes([tmp_path])
    (problem,) = themes.problems
    assert "\n" not in problem
    assert problem.startswith("theme broken.toml skipped:") and "malformed TOML" in problem
    assert "fine" in themes.names


@pytest.fixture
def broken_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "syntax_slip.py").write_text("def register(qm):\n    return qm.\n")
    (tmp_path / "missing_dependency.py").write_text(
        "import a_package_that_is_not_installed\n\ndef register(qm):\n    pass\n"
    )
    (tmp_path / "explodes_on_import.py").write_text(
        "raise RuntimeError('settings missing:\\nSECRET_KEY')\n"
    )
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for module in ("syntax_slip", "missing_dependency", "explodes_on_import"):
        sys.modules.pop(module, None)


@pytest.mark.parametrize(
    ("module", "reason"),
    [
        ("syntax_slip", "SyntaxError: invalid syntax"),
        ("missing_dependency", "No module named 'a_package_that_is_not_installed'"),
        ("explodes_on_import", "RuntimeError: settings missing"),
    ],
)
def test_factory_module_that_fails_to_import_is_one_line(
    module: str,
    reason: str,
    broken_modules: Path,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    code = cli.main(
        [
            "--headless",
            "--dsn",
            settings.dsn,
            "--prefix",
            settings.names.prefix,
            "--factory",
            f"{module}:register",
        ]
    )
    err = one_line_error(capsys)
    assert code == 2
    assert f"cannot import {module!r}" in err and reason in err
    assert time.monotonic() - started < 10
    assert scalar(settings.dsn, sq("SELECT count(*) FROM {workers}", settings.names)) == 0
