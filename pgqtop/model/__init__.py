"""Plain data and the rules about it, below every other layer: jobs and their statuses, events
from the channel, what a producer may enqueue, and one-line error messages. Imports nothing of
pgqtop's but its errors."""

from pgqtop.model.columns import (
    MAX_DEDUPE_KEY_LENGTH,
    MAX_DELAY_SECONDS,
    MAX_ENTRYPOINT_LENGTH,
    PRIORITY_MAX,
    PRIORITY_MIN,
    JobColumns,
    check_new_jobs,
    dedupe_within_batch,
)
from pgqtop.model.enqueue import DuplicateJob, NewJob, OnDuplicate, PayloadLike, as_new_jobs
from pgqtop.model.event import Event, EventParseError, parse_event
from pgqtop.model.identity import short_id
from pgqtop.model.job import (
    ALL_ENTRYPOINTS,
    ALL_STATUSES,
    FAILED_OUTCOMES,
    RESERVED_NAMES,
    STATUS_BY_VALUE,
    WAITING,
    WORKER_OUTCOMES,
    Job,
    Outcome,
    Status,
    is_reserved_name,
    purge_statuses,
    target_label,
)
from pgqtop.model.messages import first_line, printable, redact
from pgqtop.model.payloads import (
    JsonModel,
    PayloadInvalid,
    encode_model,
    is_model_class,
    is_model_instance,
    payload_decoder,
)

__all__ = [
    "ALL_ENTRYPOINTS",
    "ALL_STATUSES",
    "FAILED_OUTCOMES",
    "MAX_DEDUPE_KEY_LENGTH",
    "MAX_DELAY_SECONDS",
    "MAX_ENTRYPOINT_LENGTH",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "RESERVED_NAMES",
    "STATUS_BY_VALUE",
    "WAITING",
    "WORKER_OUTCOMES",
    "DuplicateJob",
    "Event",
    "EventParseError",
    "Job",
    "JobColumns",
    "JsonModel",
    "NewJob",
    "OnDuplicate",
    "Outcome",
    "PayloadInvalid",
    "PayloadLike",
    "Status",
    "as_new_jobs",
    "check_new_jobs",
    "dedupe_within_batch",
    "encode_model",
    "first_line",
    "is_model_class",
    "is_model_instance",
    "is_reserved_name",
    "parse_event",
    "payload_decoder",
    "printable",
    "purge_statuses",
    "redact",
    "short_id",
    "target_label",
]
