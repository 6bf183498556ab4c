"""A primary and its streaming standby, built here (initdb, pg_basebackup -R, own ports and
socket directories); workers and a console on a multi-host DSN with
target_session_attrs=read-write.

Failover: the primary dies mid-drain (`pg_ctl stop -m immediate`), the standby is promoted, and
the workers and the console find it by themselves within RECONNECT_WITHIN seconds; every job
runs, a job runs twice only if it was in flight when the primary died, and nothing logs a
traceback. Replica: a --read-only console on the hot standby polls (LISTEN is refused there)
and says so in its header.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqtop.config import ObjectNames, Settings
from pgqtop.db import schema
from pgqtop.db.producer import Queries, SyncQueries
from pgqtop.engine.manager import QueueManager
from pgqtop.model import Job, NewJob
from pgqtop.tui.app import PgqtopApp
from pgqtop.tui.panes.header import StatusHeader
from pgqtop.tui.state import ConsoleState
from pgqtop.tui.watcher import Watcher
from tests.reliability.cluster import Cluster
from tests.reliability.conftest import fast_settings, remaining_jobs, sq
from tests.waiting import eventually

JOBS = 1500
RECONNECT_WITHIN = 15.0
"""Seconds from the promotion until both workers and the console work on the new primary: the
reconnect backoff is capped at 10 s, plus a connection attempt."""


@pytest.fixture
def pair() -> Iterator[tuple[Cluster, Cluster]]:
    root = Path(tempfile.mkdtemp(prefix="pgqtop-pair-"))
    root.chmod(0o755)  # the servers run as their own user where the tests run as root
    # Synchronous replication: a commit returns once the standby has it, so a promotion loses
    # nothing committed (README: what asynchronous replication may lose, and this setting).
    primary = Cluster(
        root / "primary",
        extra_conf="wal_level = replica\nmax_wal_senders = 4\nsynchronous_commit = on\n"
        "synchronous_standby_names = '*'\n",
    )
    standby = Cluster(root / "standby")
    (root / "primary").mkdir()
    (root / "standby").mkdir()
    try:
        primary.init()
        primary.start()
        standby.init_standby(primary)
        with (standby.data / "postgresql.conf").open("a") as conf:
            # Once promoted it has no standby of its own to wait for.
            conf.write("synchronous_standby_names = ''\n")
        standby.start()
        yield primary, standby
    finally:
        for server in (standby, primary):
            with contextlib.suppress(Exception):
                server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def multi_host(primary: Cluster, standby: Cluster) -> str:
    return (
        f"host=127.0.0.1,127.0.0.1 port={primary.port},{standby.port} dbname=postgres"
        " user=postgres target_session_attrs=read-write"
    )


def replayed(primary: Cluster, standby: Cluster) -> bool:
    """The standby has replayed everything the primary wrote so far."""
    with psycopg.connect(primary.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    with psycopg.connect(standby.dsn, autocommit=True) as conn:
        done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)).fetchone()
    return bool(done and done[0])


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_workers_and_console_follow_a_promoted_standby(
    pair: tuple[Cluster, Cluster], caplog: pytest.LogCaptureFixture
) -> None:
    primary, standby = pair
    names = ObjectNames(f"f{uuid.uuid4().hex[:12]}")
    with psycopg.connect(primary.dsn, autocommit=True) as conn:
        schema.install(conn, names)
    dsn = multi_host(primary, standby)
    settings = fast_settings(dsn, names, retry_timer=5.0, concurrency=5, batch_size=5)
    settings.engine.flush_size = 5
    runs: collections.Counter[int] = collections.Counter()

    def worker() -> QueueManager:
        qm = QueueManager(settings)

        async def handle(job: Job) -> None:
            await asyncio.sleep(0.01)
            runs[job.id] += 1

        qm.entrypoint("load")(handle)
        return qm

    async with await psycopg.AsyncConnection.connect(primary.dsn, autocommit=True) as conn:
        await Queries(conn, names).enqueue_bulk(NewJob("load") for _ in range(JOBS))
        cur = await conn.execute(sq("SELECT array_agg(id) FROM {jobs}", names))
        row = await cur.fetchone()
        assert row is not None
        ids = list(row[0])
    assert len(ids) == JOBS

    state = ConsoleState()
    watcher = Watcher(settings, state)
    stop_console = asyncio.Event()
    console = asyncio.create_task(watcher.run(stop_console))
    workers = [worker(), worker()]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    with caplog.at_level(logging.INFO, logger="pgqtop"):
        try:
            await eventually(lambda: len(runs) >= JOBS // 4, 30, "a quarter of the jobs")
            await eventually(lambda: state.connection == "connected", 10, "the console")
            primary.stop("immediate")
            died = time.monotonic()
            standby.promote()
            promoted = time.monotonic()
            done_at_promotion = len(runs)

            def working_again() -> bool:
                return len(runs) > done_at_promotion + 50 and all(
                    w.state == "running" for w in workers
                )

            await eventually(working_again, RECONNECT_WITHIN, "the workers on the new primary")
            workers_back = time.monotonic() - promoted

            def console_back() -> bool:
                current = watcher.queries
                return (
                    state.connection == "connected"
                    and current is not None
                    and current.conn.info.port == standby.port
                )

            await eventually(console_back, RECONNECT_WITHIN, "the console on the new primary")
            console_seconds = time.monotonic() - promoted
            await eventually(lambda: set(ids) <= set(runs), 30, "every job to run", step=0.1)
            await eventually(
                lambda: remaining_jobs(standby.dsn, names) == 0, 20, "the queue to empty"
            )
        finally:
            for w in workers:
                await w.stop(grace=2)
            await asyncio.gather(*tasks, return_exceptions=True)
            stop_console.set()
            await asyncio.gather(console, return_exceptions=True)

    twice = [job for job, n in runs.items() if n > 1]
    # Only a job held when the primary died may run again: each worker holds at most its
    # concurrency running plus the outcomes not yet written (the batches of the flush buffer).
    held_at_most = len(workers) * (settings.engine.concurrency + 4 * settings.engine.flush_size)
    assert len(twice) <= held_at_most, (len(twice), held_at_most)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    print(
        f"failover: primary died {promoted - died:.1f}s before promotion ended; workers back "
        f"{workers_back:.1f}s, console back {console_seconds:.1f}s after it; "
        f"{len(twice)} of {JOBS} jobs ran twice"
    )


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_read_only_console_on_a_hot_standby_polls_and_says_so(
    pair: tuple[Cluster, Cluster], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGQTOP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PGQTOP_STATE_DIR", str(tmp_path / "state"))
    primary, standby = pair
    names = ObjectNames(f"f{uuid.uuid4().hex[:12]}")
    with psycopg.connect(primary.dsn, autocommit=True) as conn:
        schema.install(conn, names)
        enqueue_mail(conn, names, 3)
    await eventually(lambda: replayed(primary, standby), 10, "the standby to replay")

    settings = Settings(dsn=standby.dsn, names=names, read_only=True)
    app = PgqtopApp(settings, read_only=True, remember_state=False)
    async with app.run_test() as pilot:

        def seen() -> str:
            w = app.watcher
            return (
                f"queues {app.state.queues}, {app.state.connection} {app.state.last_error!r}, "
                f"replica {w.replica}, polling {w.polling}, known {w._known.is_set()}"
            )

        def shows(queued: int) -> bool:
            row = app.state.queues.get("mail")
            return row is not None and row.due == queued

        await eventually(
            lambda: shows(3), 10, "3 queued on the replica", pause=pilot.pause, detail=seen
        )

        def header() -> str:
            return str(app.query_one(StatusHeader).render())

        await eventually(
            lambda: "replica · polling every 2s" in header(),
            10,
            "the header to say how it polls",
            pause=pilot.pause,
            detail=header,
        )
        assert app.watcher.replica and app.watcher.polling
        with psycopg.connect(primary.dsn, autocommit=True) as conn:
            enqueue_mail(conn, names, 2)
        await eventually(
            lambda: shows(5),
            10,
            "the poll to see 2 more",
            pause=pilot.pause,
            detail=seen,
        )
        assert app.state.connection == "connected"
        # Write keys are not offered on a read-only console.
        assert app.check_action("toggle_pause", ()) is not True


def enqueue_mail(conn: psycopg.Connection[Any], names: ObjectNames, n: int) -> None:
    SyncQueries(conn, names).enqueue(["mail"] * n)
