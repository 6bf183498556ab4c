"""pgqtop: a PostgreSQL job queue for Python with a live operator console built in."""

from pgqtop.config import ObjectNames, Settings
from pgqtop.db.queries import DuplicateJob, NewJob, OnDuplicate, Queries, SyncQueries
from pgqtop.engine.job import Job, Status
from pgqtop.engine.manager import EngineCounters, EngineEvent, QueueManager
from pgqtop.engine.retry import RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "DuplicateJob",
    "EngineCounters",
    "EngineEvent",
    "Job",
    "NewJob",
    "ObjectNames",
    "OnDuplicate",
    "Queries",
    "QueueManager",
    "RetryPolicy",
    "Settings",
    "Status",
    "SyncQueries",
    "__version__",
]
