"""The database objects: install, verify, upgrade, uninstall, and the NOTIFY trigger."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any, LiteralString

import psycopg
import pytest
from psycopg import sql

from pgqtop.config import ObjectNames
from pgqtop.db import schema
from pgqtop.errors import SchemaMissing, SchemaOutdated


def sq(text: LiteralString, names: ObjectNames, **extra: str) -> sql.Composed:
    """Test SQL with {jobs}-style placeholders, every name quoted as an identifier."""
    identifiers = {
        key: sql.Identifier(getattr(names, key))
        for key in (
            "jobs",
            "statistics",
            "failures",
            "control",
            "workers",
            "schedules",
            "meta",
            "finished",
            "channel",
        )
    }
    identifiers |= {key: sql.Identifier(value) for key, value in extra.items()}
    return sql.SQL(text).format(**identifiers)


@pytest.fixture
def bare_names(dsn: str) -> Iterator[ObjectNames]:
    """A fresh prefix with nothing installed; whatever a test installs is dropped after."""
    names = ObjectNames(f"s{uuid.uuid4().hex[:12]}")
    yield names
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema.uninstall(conn, names)


def owned_objects(conn: psycopg.Connection[Any], names: ObjectNames) -> list[str]:
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE %s "
        "UNION ALL SELECT typname FROM pg_type WHERE typname = %s "
        "UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE %s",
        (names.prefix + "\\_%", names.status_type, names.prefix + "\\_%"),
    ).fetchall()
    return sorted(r[0] for r in rows)


def test_install_verify_uninstall_round_trip(
    sync_conn: psycopg.Connection[Any], bare_names: ObjectNames
) -> None:
    assert schema.installed_version(sync_conn, bare_names) is None
    assert schema.verify(sync_conn, bare_names) != []

    schema.install(sync_conn, bare_names)
    assert schema.installed_version(sync_conn, bare_names) == schema.SCHEMA_VERSION
    assert schema.verify(sync_conn, bare_names) == []
    schema.require_current(sync_conn, bare_names)

    schema.uninstall(sync_conn, bare_names)
    assert owned_objects(sync_conn, bare_names) == []
    assert schema.installed_version(sync_conn, bare_names) is None


def test_install_twice_keeps_jobs_and_stays_verified(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    sync_conn.execute(sq("INSERT INTO {jobs} (entrypoint) VALUES (%s)", names), ("kept",))
    before = owned_objects(sync_conn, names)

    schema.install(sync_conn, names)
    schema.install(sync_conn, names)

    assert owned_objects(sync_conn, names) == before
    assert schema.verify(sync_conn, names) == []
    count = sync_conn.execute(sq("SELECT count(*) FROM {jobs}", names)).fetchone()
    assert count == (1,)


def test_uninstall_of_nothing_is_harmless(
    sync_conn: psycopg.Connection[Any], bare_names: ObjectNames
) -> None:
    schema.uninstall(sync_conn, bare_names)
    assert owned_objects(sync_conn, bare_names) == []


def test_upgrade_brings_an_older_install_forward(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    # An "older version": a column this version added is missing, the recorded version is 0.
    sync_conn.execute(sq("ALTER TABLE {jobs} DROP COLUMN worker_id", names))
    sync_conn.execute(sq("UPDATE {meta} SET value = '0' WHERE key = 'schema_version'", names))

    problems = schema.verify(sync_conn, names)
    assert any("worker_id is missing" in p for p in problems)
    assert any("run `pgqtop upgrade`" in p for p in problems)
    with pytest.raises(SchemaOutdated, match="pgqtop upgrade"):
        schema.require_current(sync_conn, names)

    assert schema.upgrade(sync_conn, names) == 0

    assert schema.verify(sync_conn, names) == []
    schema.require_current(sync_conn, names)


def test_upgrade_from_version_1_adds_the_schedules_table(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    sync_conn.execute(sq("DROP TABLE {schedules}", names))
    sync_conn.execute(sq("UPDATE {meta} SET value = '1' WHERE key = 'schema_version'", names))
    assert f"table {names.schedules!r} is missing" in schema.verify(sync_conn, names)
    with pytest.raises(SchemaOutdated, match=r"version 1.*pgqtop upgrade"):
        schema.require_current(sync_conn, names)

    assert schema.upgrade(sync_conn, names) == 1

    assert schema.verify(sync_conn, names) == []


def test_verify_names_a_table_that_should_be_unlogged_and_install_repairs_it(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    sync_conn.execute(sq("ALTER TABLE {finished} SET LOGGED", names))
    assert schema.verify(sync_conn, names) == [f"table {names.finished!r} should be unlogged"]
    schema.install(sync_conn, names)
    assert schema.verify(sync_conn, names) == []


def test_upgrade_from_version_2_adds_histograms_the_finished_table_and_enqueue_functions(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    sync_conn.execute(sq("INSERT INTO {jobs} (entrypoint) VALUES ('kept')", names))
    sync_conn.execute(sq("DROP TABLE {finished}", names))
    sync_conn.execute(
        sq("ALTER TABLE {statistics} DROP COLUMN wait_histogram, DROP COLUMN run_histogram", names)
    )
    for function in schema.FUNCTIONS:
        sync_conn.execute(sql.SQL("DROP FUNCTION {}").format(function.signature(names)))
    sync_conn.execute(sq("UPDATE {meta} SET value = '2' WHERE key = 'schema_version'", names))
    problems = schema.verify(sync_conn, names)
    assert f"table {names.finished!r} is missing" in problems
    assert f"column {names.statistics}.run_histogram is missing" in problems
    assert f"function {names.enqueue_function!r} is missing" in problems
    assert f"function {names.enqueue_one_function!r} is missing" in problems
    with pytest.raises(SchemaOutdated, match=r"version 2.*pgqtop upgrade"):
        schema.require_current(sync_conn, names)

    assert schema.upgrade(sync_conn, names) == 2

    assert schema.verify(sync_conn, names) == []
    assert sync_conn.execute(sq("SELECT count(*) FROM {jobs}", names)).fetchone() == (1,)


def test_enqueue_functions_run_as_their_owner_with_a_pinned_search_path(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    for function in schema.FUNCTIONS:
        row = sync_conn.execute(
            "SELECT prosecdef, proconfig, has_function_privilege('public', oid, 'EXECUTE'),"
            " pronamespace = to_regnamespace(current_schema())::oid"
            " FROM pg_proc WHERE oid = to_regprocedure(%s)",
            (function.signature(names).as_string(None),),
        ).fetchone()
        assert row == (True, ["search_path=pg_catalog, pg_temp"], False, True)


def test_upgrade_refuses_when_nothing_is_installed(
    sync_conn: psycopg.Connection[Any], bare_names: ObjectNames
) -> None:
    with pytest.raises(SchemaMissing, match="pgqtop install"):
        schema.upgrade(sync_conn, bare_names)


def test_verify_reports_a_missing_index_and_trigger(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    sync_conn.execute(sq("DROP INDEX {index}", names, index=names.index("jobs_queued")))
    sync_conn.execute(
        sq("DROP TRIGGER {trigger} ON {jobs}", names, trigger=f"{names.prefix}_jobs_notify_insert")
    )

    problems = schema.verify(sync_conn, names)

    assert any(names.index("jobs_queued") in p for p in problems)
    assert any("notify triggers" in p for p in problems)


def test_jobs_table_has_only_the_indexes_the_queue_needs(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    rows = sync_conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = to_regclass(%s)",
        (sql.Identifier(names.jobs).as_string(None),),
    ).fetchall()
    found = sorted(r[0].strip('"') for r in rows)
    expected = sorted(
        [
            f"{names.jobs}_pkey",
            *(names.index(s) for s in ("jobs_queued", "jobs_picked", "jobs_dedupe")),
        ]
    )
    assert found == expected


def test_jobs_table_is_vacuumed_early(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    row = sync_conn.execute(
        "SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)",
        (sql.Identifier(names.jobs).as_string(None),),
    ).fetchone()
    assert row is not None
    assert "autovacuum_vacuum_scale_factor=0.01" in row[0]


def test_dry_run_sql_renders_without_a_connection(bare_names: ObjectNames) -> None:
    text = schema.render(schema.install_statements(bare_names))
    assert f'CREATE TABLE IF NOT EXISTS "{bare_names.jobs}"' in text
    assert "FOR EACH STATEMENT" in text


def test_a_producer_can_enqueue_with_a_plain_insert(
    sync_conn: psycopg.Connection[Any], names: ObjectNames
) -> None:
    sync_conn.execute(sq("INSERT INTO {jobs} (entrypoint) VALUES (%s)", names), ("plain",))
    row = sync_conn.execute(
        sq("SELECT status::text, priority, attempts, execute_after <= now() FROM {jobs}", names)
    ).fetchone()
    assert row == ("queued", 0, 0, True)


# --- the NOTIFY trigger --------------------------------------------------------------------------


def _drain(listener: psycopg.Connection[Any], names: ObjectNames) -> list[dict[str, Any]]:
    """Every notification that has arrived so far on the channel, parsed."""
    listener.execute("SELECT 1")  # a round trip delivers pending notifications
    return [
        json.loads(n.payload) for n in listener.notifies(timeout=0.2) if n.channel == names.channel
    ]


@pytest.fixture
def listener(dsn: str, names: ObjectNames) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sq("LISTEN {channel}", names))
        yield conn


def test_trigger_sends_one_notification_per_statement_with_counts_per_entrypoint(
    sync_conn: psycopg.Connection[Any], names: ObjectNames, listener: psycopg.Connection[Any]
) -> None:
    sync_conn.execute(
        sq("INSERT INTO {jobs} (entrypoint) SELECT unnest(%s::text[])", names),
        (["a", "a", "a", "b"],),
    )

    events = _drain(listener, names)

    assert events == [{"op": "insert", "changes": {"a": {"queued": 3}, "b": {"queued": 1}}}]


def test_trigger_reports_status_moves_and_deletes(
    sync_conn: psycopg.Connection[Any], names: ObjectNames, listener: psycopg.Connection[Any]
) -> None:
    sync_conn.execute(
        sq("INSERT INTO {jobs} (entrypoint) SELECT unnest(%s::text[])", names), (["a", "a"],)
    )
    sync_conn.execute(sq("UPDATE {jobs} SET status = 'picked'", names))
    sync_conn.execute(sq("DELETE FROM {jobs}", names))

    events = _drain(listener, names)

    assert [e["op"] for e in events] == ["insert", "update", "delete"]
    assert events[1]["changes"] == {"a": {"picked": 2, "queued": -2}}
    assert events[2]["changes"] == {"a": {"picked": -2}}


def test_trigger_is_silent_for_an_update_that_changes_nothing_visible(
    sync_conn: psycopg.Connection[Any], names: ObjectNames, listener: psycopg.Connection[Any]
) -> None:
    sync_conn.execute(sq("INSERT INTO {jobs} (entrypoint) VALUES (%s)", names), ("a",))
    _drain(listener, names)

    sync_conn.execute(sq("UPDATE {jobs} SET status = 'picked' WHERE false", names))
    sync_conn.execute(sq("UPDATE {jobs} SET heartbeat = now()", names))

    assert _drain(listener, names) == []
