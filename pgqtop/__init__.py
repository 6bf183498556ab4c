"""pgqtop: a PostgreSQL job queue for Python with a live operator console built in."""

from pgqtop.config import ObjectNames, Settings
from pgqtop.db.producer import Queries, SyncQueries
from pgqtop.engine.manager import EngineCounters, EngineEvent, QueueManager
from pgqtop.engine.retry import RetryPolicy
from pgqtop.errors import (
    ConfigError,
    ConnectionFailed,
    InvalidJob,
    PayloadTooLarge,
    PgqtopError,
    SchemaMissing,
    SchemaOutdated,
    UsageError,
)
from pgqtop.model import DuplicateJob, Job, NewJob, OnDuplicate, PayloadInvalid, Status

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConnectionFailed",
    "DuplicateJob",
    "EngineCounters",
    "EngineEvent",
    "InvalidJob",
    "Job",
    "NewJob",
    "ObjectNames",
    "OnDuplicate",
    "PayloadInvalid",
    "PayloadTooLarge",
    "PgqtopError",
    "Queries",
    "QueueManager",
    "RetryPolicy",
    "SchemaMissing",
    "SchemaOutdated",
    "Settings",
    "Status",
    "SyncQueries",
    "UsageError",
    "__version__",
]
