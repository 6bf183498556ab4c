"""Plain data and the rules about it, below every other layer: jobs and their statuses, events
from the channel, what a producer may enqueue, and one-line error messages. Imports nothing of
pgqtop's but its errors."""

from pgqtop.model.enqueue import (
    DuplicateJob,
    NewJob,
    OnDuplicate,
    PayloadLike,
    as_new_jobs,
    dedupe_within_batch,
    payload_bytes,
    refuse_oversize,
)
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
    refuse_reserved_names,
    target_label,
)
from pgqtop.model.messages import first_line, redact
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
    "RESERVED_NAMES",
    "STATUS_BY_VALUE",
    "WAITING",
    "WORKER_OUTCOMES",
    "DuplicateJob",
    "Event",
    "EventParseError",
    "Job",
    "JsonModel",
    "NewJob",
    "OnDuplicate",
    "Outcome",
    "PayloadInvalid",
    "PayloadLike",
    "Status",
    "as_new_jobs",
    "dedupe_within_batch",
    "encode_model",
    "first_line",
    "is_model_class",
    "is_model_instance",
    "is_reserved_name",
    "parse_event",
    "payload_bytes",
    "payload_decoder",
    "purge_statuses",
    "redact",
    "refuse_oversize",
    "refuse_reserved_names",
    "short_id",
    "target_label",
]
