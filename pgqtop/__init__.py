"""pgqtop: a PostgreSQL job queue for Python with a live operator console built in."""

from pgqtop.config import ObjectNames, Settings
from pgqtop.db.queries import DuplicateJob, NewJob, OnDuplicate, Queries, SyncQueries
from pgqtop.engine.job import Job, Status

__version__ = "0.1.0"

__all__ = [
    "DuplicateJob",
    "Job",
    "NewJob",
    "ObjectNames",
    "OnDuplicate",
    "Queries",
    "Settings",
    "Status",
    "SyncQueries",
    "__version__",
]
