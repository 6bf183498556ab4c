"""pgqtop's own two statements per batch (dequeue; completion with statistics) run by pgbench
with no Python in the loop, next to the lean SQL limit of ../shared/limit. Tells how much of the
gap between the engine and the limit is SQL and how much is the Python engine, and what the
NOTIFY triggers cost.

Two claim designs run side by side on the same server in the same run: claim by UPDATE (the
engine's: rows marked 'picked' in one autocommit statement, finished by a second one) and the
lock-held claim (the same rows locked with FOR UPDATE SKIP LOCKED in one open transaction, then
the same completion (DELETE, statistics upsert, finished-jobs rows) and COMMIT, with no write
to claim). The ratio tells what the claim's write costs.

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
from pgqtop.db.statements import Renderer
from pgqtop.db.statements.worker import CLAIM_HELD, COMPLETE, COMPLETE_HELD, worker_statements
from pgqtop.model import NewJob

WORKER = "'00000000-0000-0000-0000-000000000001'::uuid"


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace psycopg placeholders with pgbench expressions (constants and :variables)."""
    return re.sub(r"%\((\w+)\)[sb]", lambda m: values[m[1]], template)


def pgbench_script(names: ObjectNames, keep_finished: bool = True) -> str:
    """The engine's dequeue (ids kept with \\gset) and completion as one pgbench transaction;
    every job succeeds, as in the drain benchmark."""
    dequeue = _dequeue(names)
    # Keep the claim, return only the ids: pgbench stores one row of one value per variable.
    head, update = dequeue.split(") UPDATE ", 1)
    update = update.split(" RETURNING ", 1)[0] + " RETURNING j.id"
    claim = (
        f"{head}), taken AS (UPDATE {update}) "
        "SELECT coalesce(array_agg(id), '{}') AS ids FROM taken \\gset"
    )

    completion = _completion(names, held=False, keep_finished=keep_finished)
    return claim.replace("\n", " ") + "\n" + completion + ";\n"


def lock_claim_script(names: ObjectNames) -> str:
    """The lock claim on pgqtop's tables (engine/lanes.py), as one pgbench transaction: the
    lanes' take (rows locked FOR UPDATE SKIP LOCKED, nothing written), the held completion,
    COMMIT. A lane also names its batch in the claims table, one row written per batch on
    another connection, which a one-connection script cannot do: left out here."""
    take = _fill(
        Renderer(names)(CLAIM_HELD).decode(),
        {"entrypoints": "ARRAY['noop']", "rooms": "ARRAY[:b]", "caps": "NULL", "batch": ":b"},
    )
    claim = f"SELECT coalesce(array_agg(id), '{{}}') AS ids FROM ({take}) AS taken \\gset"
    return (
        "BEGIN;\n"
        + claim.replace("\n", " ")
        + "\n"
        + _completion(names, held=True)
        + ";\nCOMMIT;\n"
    )


def _dequeue(names: ObjectNames) -> str:
    return _fill(
        worker_statements(names).dequeue.decode(),
        {
            "entrypoints": "ARRAY['noop']",
            "rooms": "ARRAY[:b]",
            "batch": ":b",
            "worker": WORKER,
            "retry_seconds": "30",
            "caps": "NULL",
            "held": "NULL",
            "fresh": "true",
        },
    )


def _completion(names: ObjectNames, held: bool, keep_finished: bool = True) -> str:
    """The engine's completion of the batch in :ids, every job successful, on one line, as a
    worker sends it (a batch of plain successes sends ids and run times only). `held`: the
    lock-held form (statements.worker.COMPLETE_HELD: no worker id to check, the lane's row
    emptied). `keep_finished`: the finished-jobs rows are written (the default) or not."""
    text = Renderer(names)(COMPLETE_HELD if held else COMPLETE).decode()
    complete = _fill(
        text,
        {
            "done_ids": ":ids",
            "done_statuses": "NULL",
            "done_run_seconds": "array_fill(0.001::float8, ARRAY[cardinality(:ids::bigint[])])",
            "done_errors": "NULL",
            "done_tracebacks": "NULL",
            "retry_ids": "'{}'",
            "retry_in": "'{}'",
            "retry_errors": "'{}'",
            "retry_tracebacks": "'{}'",
            "worker": WORKER,
            "keep_finished": "true" if keep_finished else "false",
            "done_attempts": "NULL",
            "retry_attempts": "NULL",
            "running_ids": "'{}'",
            "running_attempts": "NULL",
            "absorbed": "'{}'",
            "lane": "0",
        },
    )
    complete = re.sub(r"(::\w+\[\])\1", r"\1", complete)  # array_fill(...)::float8[]::float8[]
    return complete.replace("\n", " ")


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


BY_UPDATE = "pgqtop claim by UPDATE"
KEEP_OFF = "pgqtop by UPDATE, keep=0"
"""The claim by UPDATE with a completion that keeps no finished-jobs rows."""


def _row(label: str, batch: int, clients: int, rate: float, lean: float | None) -> None:
    share = f"{rate / lean:>8.0%}" if lean else f"{'-':>9}"
    print(f"{label:<30} {batch:>6} {clients:>8} {rate:>10.0f} {share}")


async def main() -> None:
    p = common.parser(__doc__ or "")
    p.add_argument("--batch", type=int, nargs="+", default=[100, 500])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument(
        "--keep-finished-off",
        action="store_true",
        help="also run the claim by UPDATE with a completion that keeps no finished jobs",
    )
    p.add_argument(
        "--no-triggers-off", action="store_true", help="skip the run with NOTIFY triggers off"
    )
    args = p.parse_args()
    if shutil.which("pgbench") is None:
        raise SystemExit("pgbench not found (Debian: postgresql-client)")
    dsn = common.bench_dsn(args.admin_dsn, args.database)
    ratios: list[str] = []
    limits: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        by_update, by_locks = Path(folder) / "pgqtop.sql", Path(folder) / "pgqtop_locks.sql"
        common.fresh_tables(dsn)
        by_update.write_text(pgbench_script(common.NAMES))
        by_locks.write_text(lock_claim_script(common.NAMES))
        variants = [
            (BY_UPDATE, by_update, True),
            ("pgqtop lock-held claim", by_locks, True),
        ]
        if not args.no_triggers_off:
            variants.append(("pgqtop by UPDATE, triggers off", by_update, False))
        if args.keep_finished_off:
            bare = Path(folder) / "pgqtop_keep0.sql"
            bare.write_text(pgbench_script(common.NAMES, keep_finished=False))
            variants.append((KEEP_OFF, bare, True))
        print(f"{'statements':<30} {'batch':>6} {'clients':>8} {'jobs/s':>10} {'of limit':>9}")
        for batch in args.batch:
            output = common.sql_limit(batch, args.seconds, args.database)
            lean_update = common.limit_rates(output, batch)
            lean_locks = common.limit_rates(output, batch, "lock-claim")
            limits.append(output)
            for clients in args.clients:
                lean = lean_update.get(clients)
                _row("lean pick+complete (shared/)", batch, clients, lean or 0, None)
                _row("lean lock-claim (shared/)", batch, clients, lean_locks.get(clients, 0), lean)
                # Several rounds, the order alternating, so a neighbour's load on a shared
                # machine falls on both designs; medians per design and of the per-round ratio.
                runs: dict[str, list[float]] = {}
                ratio_runs: list[float] = []
                for run in range(args.runs):
                    for label, script, triggers in variants if run % 2 == 0 else variants[::-1]:
                        await refill(dsn, args.rows, triggers)
                        rate = pgbench(dsn, script, batch, clients, ["-T", str(args.seconds)])
                        runs.setdefault(label, []).append(rate)
                    ratio_runs.append(runs["pgqtop lock-held claim"][-1] / runs[BY_UPDATE][-1])
                rates = {label: common.median(values) for label, values in runs.items()}
                for label, _, _ in variants:
                    _row(label, batch, clients, rates[label], lean)
                held, updated = rates["pgqtop lock-held claim"], rates[BY_UPDATE]
                if args.keep_finished_off:
                    kept = [a / b for a, b in zip(runs[BY_UPDATE], runs[KEEP_OFF], strict=True)]
                    ratios.append(
                        f"batch {batch}, {clients} client(s): finished jobs kept / not kept"
                        f" {updated:.0f} / {rates[KEEP_OFF]:.0f} jobs/s; per-round ratio median"
                        f" {common.median(kept):.0%} ({', '.join(f'{r:.0%}' for r in kept)})"
                    )
                lean_ratio = (
                    f"{lean_locks[clients] / lean:.2f}x"
                    if lean and lean_locks.get(clients)
                    else "-"
                )
                ratios.append(
                    f"batch {batch}, {clients} client(s): pgqtop lock-held {held:.0f} vs"
                    f" by UPDATE {updated:.0f} jobs/s (medians of {args.runs});"
                    f" per-round ratio median {common.median(ratio_runs):.2f}x"
                    f" ({', '.join(f'{r:.2f}' for r in ratio_runs)})"
                    f" (lean designs: {lean_ratio})"
                )
    print("\nlock-held claim against claim by UPDATE:")
    print("\n".join(ratios))
    print("\nshared/limit/run.sh, same run:")
    print("\n\n".join(limits))


if __name__ == "__main__":
    asyncio.run(main())
