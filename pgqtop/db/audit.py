"""The audit trail: what operators did, written with the action (see statements/audit.py),
and read back by `pgqtop audit` and the console."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from pgqtop.db import rows
from pgqtop.db.producer import DEFAULT_MAX_PAYLOAD_BYTES, enqueue_call
from pgqtop.db.session import AsyncSession
from pgqtop.db.statements.audit import audit_statements
from pgqtop.model import DuplicateJob, NewJob, OnDuplicate
from pgqtop.model.audit import AuditEntry, AuditNote

DUPLICATE = "a job with this dedupe key is already queued or running"


class AuditTrail(AsyncSession):
    """Recording and reading operator actions on one async autocommit connection."""

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES

    async def record_audit(self, note: AuditNote, count: int) -> int:
        """Record an action done by statements of its own (in the caller's transaction when
        there is one) and announce it; returns the entry's id."""
        params = {
            "action": note.action.value,
            "actor": note.actor,
            "target": note.target,
            "count": count,
            "reason": note.reason,
            "channel": self.names.channel,
        }
        row = await self._tuple(audit_statements(self.names).record, params)
        return int(row[0])

    async def audit_log(self, seconds: float, limit: int = 1000) -> list[AuditEntry]:
        """Entries of the last `seconds`, newest first."""
        params = {"seconds": seconds, "limit": limit}
        return await self._built(audit_statements(self.names).log, params, rows.AUDIT_ENTRY)

    async def enqueue_audited(
        self,
        jobs: Sequence[NewJob],
        note: AuditNote,
        *,
        on_duplicate: OnDuplicate = OnDuplicate.ERROR,
    ) -> list[int]:
        """An operator's enqueue: the jobs and their audit entry in one statement."""
        statement, params = enqueue_call(
            audit_statements(self.names).enqueue, jobs, on_duplicate, self.max_payload_bytes
        )
        params |= {
            "actor": note.actor,
            "target": note.target,
            "reason": note.reason,
            "channel": self.names.channel,
        }
        try:
            found = await self._tuples(statement, params)
        except psycopg.errors.UniqueViolation:
            raise DuplicateJob(DUPLICATE) from None
        return [r[0] for r in found]
