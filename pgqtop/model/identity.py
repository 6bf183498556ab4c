"""How a worker is named to a person: the first eight hex digits of its UUID, the same in the
workers list, a job's story and the console's job details."""

from __future__ import annotations

import uuid

SHORT_ID_LENGTH = 8


def short_id(worker_id: uuid.UUID | str | None) -> str:
    """A worker's short id (`1a2b3c4d`); `-` when there is no worker."""
    if worker_id is None:
        return "-"
    text = worker_id.hex if isinstance(worker_id, uuid.UUID) else str(worker_id).replace("-", "")
    return text[:SHORT_ID_LENGTH]
