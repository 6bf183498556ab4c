"""FastAPI: a request-scoped transaction as a dependency; the endpoint enqueues in it, so the
job exists only if the request succeeds.

No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations, and
the dependency alias is local to the app's function."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import psycopg
import pytest

from pgqtop import Queries
from pgqtop.config import Settings

fastapi = pytest.importorskip("fastapi", reason="FastAPI is in the test extra")
httpx = pytest.importorskip("httpx", reason="httpx is in the test extra")


def signup_app(settings: Settings) -> Any:
    """The recipe of the README: one connection and one transaction per request."""
    from fastapi import Depends, FastAPI, HTTPException

    app = FastAPI()

    async def transaction() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await psycopg.AsyncConnection.connect(settings.dsn)
        async with conn, conn.transaction():  # commits after the endpoint, or rolls back
            yield conn

    Db = Annotated[psycopg.AsyncConnection[Any], Depends(transaction)]

    @app.post("/signup/{email}")
    async def signup(email: str, conn: Db) -> dict[str, int]:
        await conn.execute("SELECT 1")  # the application's own writes go here
        queries = Queries(conn, settings.names)
        (job_id,) = await queries.enqueue("welcome", {"email": email})
        if not email.endswith("@example.com"):
            raise HTTPException(status_code=422, detail="unknown domain")
        return {"job": job_id}

    return app


async def test_a_request_that_succeeds_commits_its_job_and_one_that_fails_does_not(
    settings: Settings, jobs_seen: Callable[[str], int]
) -> None:
    transport = httpx.ASGITransport(app=signup_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        ok = await client.post("/signup/ana@example.com")
        assert ok.status_code == 200 and ok.json()["job"] > 0
        assert jobs_seen("welcome") == 1

        refused = await client.post("/signup/bo@elsewhere.org")
        assert refused.status_code == 422
        assert jobs_seen("welcome") == 1
