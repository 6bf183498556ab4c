"""pgqtop's own two statements per batch (dequeue; completion with statistics) run by pgbench
with no Python in the loop, next to the lean SQL limit of ../shared/limit. Tells how much of the
gap between the engine and the limit is SQL and how much is the Python engine, and what the
NOTIFY triggers cost.

    python benchmarks/sql_cost.py --batch 100 500 --clients 1 2
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from pgqtop.config import ObjectNames
from pgqtop.db.producer import Queries
from pgqtop.db.statements.worker import worker_statements
from pgqtop.model import NewJob

WORKER = "'00000000-0000-0000-0000-000000000001'::uuid"


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace psycopg placeholders with pgbench expressions (constants and :variables)."""
    return re.sub(r"%\((\w+)\)[sb]", lambda m: values[m[1]], template)


def pgbench_script(names: ObjectNames) -> str:
    """The engine's dequeue (ids kept with \\gset) and completion as one pgbench transaction;
    every job succeeds, as in the drain benchmark."""
    statements = worker_statements(names)
    dequeue = _fill(
        statements.dequeue.decode(),
        {
            "entrypoints": "ARRAY['noop']",
            "rooms": "ARRAY[:b]",
            "batch": ":b",
            "worker": WORKER,
            "retry_seconds": "30",
            "caps": "NULL",
            "held": "NULL",
        },
    )
    # Keep the claim, return only the ids: pgbench stores one row of one value per variable.
    head, update = dequeue.split(") UPDATE ", 1)
    update = update.split(" RETURNING ", 1)[0] + " RETURNING j.id"
    claim = (
        f"{head}), taken AS (UPDATE {update}) "
        "SELECT coalesce(array_agg(id), '{}') AS ids FROM taken \\gset"
    )

    def filled(kind: str, value: str) -> str:
        return f"array_fill({value}::{kind}, ARRAY[cardinality(:ids::bigint[])])"

    complete = _fill(
        statements.complete.decode(),
        {
            "done_ids": ":ids",
            "done_statuses": filled("text", "'successful'"),
            "done_run_seconds": filled("float8", "0.001"),
            "done_errors": filled("text", "''"),
            "done_tracebacks": filled("text", "''"),
            "retry_ids": "'{}'",
            "retry_in": "'{}'",
            "retry_errors": "'{}'",
            "retry_tracebacks": "'{}'",
            "worker": WORKER,
            "keep_finished": "true",
        },
    )
    complete = re.sub(r"(::\w+\[\])\1", r"\1", complete)  # array_fill(...)::text[]::text[]
    return claim.replace("\n", " ") + "\n" + complete.replace("\n", " ") + ";\n"


async def refill(dsn: str, rows: int, triggers: bool) -> None:
    common.fresh_tables(dsn)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await Queries(conn, common.NAMES).enqueue_bulk(NewJob("noop") for _ in range(rows))
        jobs = sql.Identifier(common.NAMES.jobs)
        switch = (
            "ALTER TABLE {} ENABLE TRIGGER USER"
            if triggers
            else ("ALTER TABLE {} DISABLE TRIGGER USER")
        )
        await conn.execute(sql.SQL(switch).format(jobs))
        await conn.execute(sql.SQL("VACUUM ANALYZE {}").format(jobs))
        await conn.execute("CHECKPOINT")


def pgbench(dsn: str, script: Path, batch: int, clients: int, length: Sequence[str]) -> float:
    """jobs/s of the script at `batch` with `clients` connections; `length` is pgbench's
    ["-T", seconds] or ["-t", transactions per client]."""
    params = conninfo_to_dict(dsn)
    env = dict(os.environ)
    for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER")):
        if params.get(key):
            env[var] = str(params[key])
    done = subprocess.run(
        [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-D",
            f"b={batch}",
            "-f",
            str(script),
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            *length,
            str(params["dbname"]),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"^tps = ([0-9.]+)", done.stdout, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"pgbench failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(found[1]) * batch


async def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--batch", type=int, nargs="+", default=[100, 500])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--rows", type=int, default=1_000_000)
    args = p.parse_args()
    if shutil.which("pgbench") is None:
        raise SystemExit("pgbench not found (Debian: postgresql-client)")
    dsn = common.bench_dsn(args.admin_dsn, args.database)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "pgqtop.sql"
        common.fresh_tables(dsn)
        script.write_text(pgbench_script(common.NAMES))
        print(f"{'statements':<26} {'batch':>6} {'clients':>8} {'jobs/s':>10} {'of limit':>9}")
        for batch in args.batch:
            limit = common.limit_rates(common.sql_limit(batch, args.seconds), batch)
            for clients in args.clients:
                lean = limit.get(clients)
                print(f"{'lean limit (shared/)':<26} {batch:>6} {clients:>8} {lean or 0:>10.0f}")
                for label, triggers in (("pgqtop", True), ("pgqtop, triggers off", False)):
                    await refill(dsn, args.rows, triggers)
                    rate = pgbench(dsn, script, batch, clients, ["-T", str(args.seconds)])
                    share = f"{rate / lean:>8.0%}" if lean else f"{'-':>9}"
                    print(f"{label:<26} {batch:>6} {clients:>8} {rate:>10.0f} {share}")


if __name__ == "__main__":
    asyncio.run(main())
