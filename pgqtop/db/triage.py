"""Failure triage: failures grouped by entrypoint and error pattern, and the records of one
group deleted (its jobs are requeued through ConsoleQueries.requeue_failures)."""

from __future__ import annotations

from pgqtop.db import rows
from pgqtop.db.rows import FailureGroup, FailureSummary
from pgqtop.db.session import AsyncSession
from pgqtop.db.statements.triage import triage_statements


class FailureTriage(AsyncSession):
    """Failure groups on one async autocommit connection."""

    async def list_failures(
        self,
        *,
        entrypoint: str | None = None,
        seconds: float | None = None,
        limit: int = 100,
    ) -> list[FailureSummary]:
        """Single failures, newest first: of one entrypoint, and of the last `seconds`."""
        params = {"entrypoint": entrypoint, "seconds": seconds, "limit": limit}
        statement = triage_statements(self.names).list_failures
        return await self._built(statement, params, rows.FAILURE_SUMMARY)

    async def failure_groups(
        self,
        *,
        entrypoint: str | None = None,
        seconds: float | None = None,
        limit: int = 100,
    ) -> list[FailureGroup]:
        """The largest groups first: of one entrypoint, and of the last `seconds`, if given."""
        params = {"entrypoint": entrypoint, "seconds": seconds, "limit": limit}
        statement = triage_statements(self.names).failure_groups
        return await self._built(statement, params, rows.FAILURE_GROUP)

    async def failure_group(self, fingerprint: str) -> FailureGroup | None:
        """One group by its fingerprint, counted over every failure kept."""
        statement = triage_statements(self.names).failure_group
        found = await self._built(statement, {"fingerprint": fingerprint}, rows.FAILURE_GROUP)
        return found[0] if found else None

    async def purge_failure_group(
        self, fingerprint: str, *, by: str = "", target: str = "", reason: str = ""
    ) -> int:
        """Delete every failure record of a group, recorded in the audit trail in the same
        statement; returns how many went."""
        params = {
            "fingerprint": fingerprint,
            "actor": by,
            "target": target or f"group {fingerprint}",
            "reason": reason,
            "channel": self.names.channel,
        }
        row = await self._tuple(triage_statements(self.names).purge_group, params)
        return int(row[0])
