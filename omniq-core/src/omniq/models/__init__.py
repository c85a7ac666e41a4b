"""OmniQ's records: tasks, leases, results, events and schedules (attrs, frozen).

Configuration records live in :mod:`omniq.models.config`.
"""

from omniq.models.completion import Completion, CompletionAction
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.models.result import ResultStatus, TaskError, TaskResult
from omniq.models.schedule import MisfirePolicy, Schedule, TriggerKind
from omniq.models.task import (
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_QUEUE,
    CancelOutcome,
    ClaimedTask,
    Lease,
    QueueStats,
    RecoveredTask,
    Task,
    TaskInfo,
    TaskState,
    backoff_delay,
)

__all__ = [
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_QUEUE",
    "CancelOutcome",
    "ClaimedTask",
    "Completion",
    "CompletionAction",
    "EventQuery",
    "EventType",
    "Lease",
    "MisfirePolicy",
    "QueueStats",
    "RecoveredTask",
    "ResultStatus",
    "Schedule",
    "Task",
    "TaskError",
    "TaskEvent",
    "TaskInfo",
    "TaskResult",
    "TaskState",
    "TriggerKind",
    "backoff_delay",
]
