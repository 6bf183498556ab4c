"""Django: enqueue through `django.db.connection` inside `transaction.atomic()`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from psycopg.conninfo import conninfo_to_dict

from pgqtop import SyncQueries
from pgqtop.config import Settings
from tests.integrations.conftest import Boom

django = pytest.importorskip("django", reason="Django is in the test extra")
from django.conf import settings as django_settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402


@pytest.fixture
def django_db(settings: Settings) -> Iterator[None]:
    """Django configured once per process on the test database, its psycopg 3 backend."""
    if not django_settings.configured:
        params = conninfo_to_dict(settings.dsn)
        django_settings.configure(
            DATABASES={
                "default": {
                    "ENGINE": "django.db.backends.postgresql",
                    "NAME": params.get("dbname", ""),
                    "USER": params.get("user", ""),
                    "PASSWORD": params.get("password", ""),
                    "HOST": params.get("host", ""),
                    "PORT": params.get("port", ""),
                }
            },
            USE_TZ=True,
        )
        django.setup()
    yield
    connection.close()


def test_a_job_enqueued_in_an_atomic_block_exists_only_if_it_commits(
    django_db: None, settings: Settings, jobs_seen: Callable[[str], int]
) -> None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # the application's own work in the same transaction
        SyncQueries.from_connection(connection, settings.names).enqueue("welcome", "ana")
        assert jobs_seen("welcome") == 0  # not before the commit
    assert jobs_seen("welcome") == 1

    with pytest.raises(Boom), transaction.atomic():
        SyncQueries.from_connection(connection, settings.names).enqueue("welcome", "bo")
        raise Boom
    assert jobs_seen("welcome") == 1
    assert connection.vendor == "postgresql" and connection.connection.info.dbname
