"""Every way into the queue refuses the same bad jobs, with pgqtop's own error, and writes
nothing of the batch: `enqueue` (one job and parallel lists), `enqueue_jobs`, `enqueue_bulk`
(binary COPY), the sync producer, the operations the console calls, and the CLI."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from pgqtop import operations
from pgqtop.config import ObjectNames
from pgqtop.db.console import ConsoleQueries
from pgqtop.db.producer import Queries, SyncQueries
from pgqtop.errors import InvalidJob, PayloadTooLarge
from pgqtop.model import NewJob
from tests.test_cli_admin import cli, target
from tests.test_schema import sq

BAD_JOBS: dict[str, NewJob] = {
    "priority 2**31": NewJob("p", priority=2**31),
    "priority 2**32+5": NewJob("p", priority=2**32 + 5),
    "priority bool": NewJob("p", priority=True),
    "execute_after 1e300": NewJob("p", execute_after=1e300),
    "execute_after nan": NewJob("p", execute_after=math.nan),
    "execute_after negative": NewJob("p", execute_after=-1.0),
    "payload int": NewJob("p", payload=12345),  # type: ignore[arg-type]
    "payload surrogate": NewJob("p", payload="\udcff"),
    "headers object": NewJob("p", headers={"x": object()}),
    "headers NaN": NewJob("p", headers={"x": math.nan}),
    "headers NUL": NewJob("p", headers={"x": "\x00"}),
    "entrypoint empty": NewJob(""),
    "entrypoint NUL": NewJob("a\x00b"),
    "entrypoint surrogate": NewJob("bad\udcffname"),
    "entrypoint int": NewJob(7),  # type: ignore[arg-type]
    "dedupe_key int": NewJob("p", dedupe_key=5),  # type: ignore[arg-type]
    "dedupe_key NUL": NewJob("p", dedupe_key="k\x00"),
}


def count_jobs(conn: psycopg.Connection[Any], names: ObjectNames) -> int:
    row = conn.execute(sq("SELECT count(*) FROM {jobs}", names)).fetchone()
    assert row is not None
    return int(row[0])


Path = Callable[[list[NewJob]], Awaitable[Any]]


@pytest.fixture
def paths(
    queries: ConsoleQueries, sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> dict[str, Path]:
    """Each producer path, taking a batch of jobs."""
    sync = SyncQueries(sync_conn, names)

    async def enqueue_lists(jobs: list[NewJob]) -> Any:
        return await queries.enqueue(
            [j.entrypoint for j in jobs],
            [j.payload for j in jobs],
            [j.priority for j in jobs],
            headers=[j.headers for j in jobs],
            execute_after=[j.execute_after for j in jobs],
            dedupe_key=[j.dedupe_key for j in jobs],
        )

    async def enqueue_one(jobs: list[NewJob]) -> Any:
        [j] = jobs[-1:]
        return await queries.enqueue(
            j.entrypoint,
            j.payload,
            j.priority,
            headers=j.headers,
            execute_after=j.execute_after,
            dedupe_key=j.dedupe_key,
        )

    async def sync_lists(jobs: list[NewJob]) -> Any:
        return sync.enqueue(
            [j.entrypoint for j in jobs],
            [j.payload for j in jobs],
            [j.priority for j in jobs],
            headers=[j.headers for j in jobs],
            execute_after=[j.execute_after for j in jobs],
            dedupe_key=[j.dedupe_key for j in jobs],
        )

    async def console_operation(jobs: list[NewJob]) -> Any:
        return await operations.enqueue(queries, jobs)

    return {
        "enqueue one job": enqueue_one,
        "enqueue lists": enqueue_lists,
        "enqueue_jobs": queries.enqueue_jobs,
        "enqueue_bulk": queries.enqueue_bulk,
        "sync enqueue lists": sync_lists,
        "operations.enqueue": console_operation,
    }


@pytest.mark.parametrize("bad", list(BAD_JOBS), ids=list(BAD_JOBS))
async def test_every_path_refuses_the_bad_job_and_writes_nothing_of_its_batch(
    paths: dict[str, Path],
    sync_conn: psycopg.Connection[Any],
    names: ObjectNames,
    bad: str,
) -> None:
    batch = [NewJob("fine", b"ok") for _ in range(3)] + [BAD_JOBS[bad]]
    for name, path in paths.items():
        with pytest.raises((InvalidJob, PayloadTooLarge)) as refused:
            await path(batch)
        message = str(refused.value)
        field = bad.split()[0]
        expected = field if name == "enqueue one job" else f"jobs[3].{field}"
        assert message.startswith(f"{expected}: "), (name, message)
        assert count_jobs(sync_conn, names) == 0, name
    # Each connection is still usable after the refusal.
    for path in paths.values():
        await path([NewJob("fine")])
    assert count_jobs(sync_conn, names) == len(paths)


async def test_bulk_copy_stores_priorities_as_given_or_refuses_them(
    queries: ConsoleQueries, sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    """In binary COPY a priority of 2**31 used to wrap to -2**31, and 2**32 + 5 to 5."""
    for priority in (2**31, 2**32 + 5, -(2**31) - 1):
        with pytest.raises(InvalidJob, match=rf"jobs\[1\]\.priority: {priority} is out of range"):
            await queries.enqueue_bulk([NewJob("b"), NewJob("b", priority=priority)])
    assert count_jobs(sync_conn, names) == 0
    edges = [2**31 - 1, -(2**31), 0]
    assert await queries.enqueue_bulk(NewJob("b", priority=p) for p in edges) == 3
    stored = sync_conn.execute(sq("SELECT priority FROM {jobs} ORDER BY id", names)).fetchall()
    assert [r[0] for r in stored] == edges


async def test_a_refusal_deep_in_a_bulk_load_names_its_index_and_writes_nothing(
    aconn: psycopg.AsyncConnection[Any], sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    """The load is sent in chunks of 5,000 rows within one COPY: the index counts from the
    start of the load, and a refusal in a later chunk discards the earlier ones too."""
    queries = Queries(aconn, names)
    jobs = (NewJob("bulk", priority=2**31 if i == 7_500 else 0) for i in range(8_000))
    with pytest.raises(InvalidJob, match=r"^jobs\[7500\]\.priority: 2147483648 is out of range"):
        await queries.enqueue_bulk(jobs)
    assert count_jobs(sync_conn, names) == 0
    with pytest.raises(InvalidJob, match=r"^jobs: must be an iterable of NewJob, not int"):
        await queries.enqueue_bulk(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--priority", "2147483648"], "error: --priority: 2147483648 is out of range"),
        (["--priority", "-2147483649"], "--priority: -2147483649 is out of range"),
        (["--after", "nan"], "--after: must be finite"),
        (["--after", "inf"], "--after: must be finite"),
        (["--after", "1e300"], "--after: 1e+300 seconds is more than the maximum"),
        (["--dedupe-key", "k\x00"], "--dedupe-key: dedupe key 'k\\x00' contains a NUL"),
        (
            ["--header", "trace=\x00"],
            "--header: cannot be stored as JSON: jsonb does not allow a NUL",
        ),
        (["--count", "1000001"], "--count must be at most 1,000,000"),
    ],
)
def test_the_cli_refuses_what_the_api_refuses_in_one_line(
    capsys: pytest.CaptureFixture[str],
    dsn: str,
    names: ObjectNames,
    sync_conn: psycopg.Connection[Any],
    arguments: list[str],
    message: str,
) -> None:
    code, out, err = cli(capsys, "enqueue", "job", "--count", "3", *arguments, *target(dsn, names))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
    assert count_jobs(sync_conn, names) == 0
