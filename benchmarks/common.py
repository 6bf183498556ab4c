"""Shared plumbing of the benchmark programs: a scratch database, fresh tables, timing."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pgqtop.config import ObjectNames
from pgqtop.db import schema

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "pgqtop_bench"
NAMES = ObjectNames("bench")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--admin-dsn",
        default=os.environ.get("PGQTOP_BENCH_ADMIN_DSN", DEFAULT_ADMIN_DSN),
        help="URL of a database to create the scratch benchmark database from",
    )
    p.add_argument(
        "--database",
        default=os.environ.get("PGQTOP_BENCH_DB", BENCH_DB),
        help="scratch database to create (dropped first if it exists)",
    )
    p.add_argument("--runs", type=int, default=3, help="runs per configuration (median)")
    return p


def bench_dsn(admin_dsn: str, database: str = BENCH_DB) -> str:
    """Create the scratch database afresh and return its DSN."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    # A URL, because the peer's driver (asyncpg) takes only URLs.
    url = urllib.parse.urlsplit(admin_dsn)
    return urllib.parse.urlunsplit(url._replace(path=f"/{database}"))


def fresh_tables(dsn: str) -> None:
    """pgqtop's tables emptied and vacuumed, so every run starts from the same state."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.install(conn, NAMES)
        tables = [
            sql.Identifier(t)
            for t in (
                NAMES.jobs,
                NAMES.statistics,
                NAMES.failures,
                NAMES.workers,
                NAMES.control,
                NAMES.finished,
            )
        ]
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(tables)))
        for table in tables:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
        conn.execute("CHECKPOINT")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def limit_script() -> Path | None:
    """shared/limit/run.sh beside the checkout or beside any folder above it, or where
    PGQTOP_LIMIT_SCRIPT says."""
    given = os.environ.get("PGQTOP_LIMIT_SCRIPT")
    places = [Path(given)] if given else [p / "shared" / "limit" / "run.sh" for p in ROOT.parents]
    return next((p for p in places if p.is_file()), None)


def sql_limit(batch: int, seconds: int = 10, database: str | None = None) -> str:
    """Run the shared pgbench scripts (the SQL limit) and return their output. The script
    drops and creates its scratch database: named after ours (unless LIMIT_DB says), so two
    benchmarks on one server do not drop each other's."""
    script = limit_script()
    if script is None:
        return "(shared/limit/run.sh not found: SQL limit not measured)"
    env = dict(os.environ, PGHOST="127.0.0.1", PGUSER="postgres")
    if database is not None:
        env.setdefault("LIMIT_DB", f"{database}_limit")
    done = subprocess.run(
        ["bash", str(script), str(seconds), str(batch)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or done.stderr.strip()


def limit_rates(output: str, batch: int, design: str = "pick+complete") -> dict[int, float]:
    """jobs/s per client count for one claim design (run.sh's label: pick+complete or
    lock-claim) at `batch`, read from run.sh's output."""
    rates: dict[int, float] = {}
    for match in re.finditer(
        re.escape(design) + r"\s+batch=(\d+)\s+clients=(\d+)\s+jobs/s=(\d+)", output
    ):
        if int(match[1]) == batch:
            rates[int(match[2])] = float(match[3])
    return rates


def headless_command(dsn: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pgqtop",
        "--headless",
        "--dsn",
        dsn,
        "--prefix",
        NAMES.prefix,
        *args,
    ]


NOOP_FACTORY = "benchmarks.noop:register"


def worker_command(dsn: str, *options: str, factory: str = NOOP_FACTORY) -> list[str]:
    """A `pgqtop --headless` worker on the benchmark tables, logging warnings only."""
    return headless_command(dsn, "--factory", factory, "--log-level", "warning", *options)


def worker_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a worker needs to import the benchmarks' handlers."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}


async def start_worker(
    dsn: str,
    *options: str,
    factory: str = NOOP_FACTORY,
    env: Mapping[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """One `pgqtop --headless` process on the benchmark tables, logging warnings only."""
    return await asyncio.create_subprocess_exec(
        *worker_command(dsn, *options, factory=factory), cwd=ROOT, env=worker_env(env)
    )


async def wait_for_workers(conn: psycopg.AsyncConnection[Any], expected: int) -> None:
    """Until `expected` workers have registered (they are connected and listening)."""
    deadline = time.monotonic() + 60
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(NAMES.workers))
    while time.monotonic() < deadline:
        row = await (await conn.execute(query)).fetchone()
        if row and int(row[0]) >= expected:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("workers did not register within 60 s")
