"""The storage contracts, one module per role. Backends implement these async classes."""

from omniq.storage.base import Storage
from omniq.storage.cancel_polling import CancelPolling
from omniq.storage.capabilities import Capability, Role
from omniq.storage.events import EventInsights, EventStorage
from omniq.storage.results import ResultStorage, SyncResultReader
from omniq.storage.schedules import ScheduleStorage, TickEnqueue, TickTakeover
from omniq.storage.task_queue import (
    AtomicCompletion,
    EventOutbox,
    SyncTaskProducer,
    TaskBrowsing,
    TaskQueueStorage,
    takes_single_enqueues,
)

__all__ = [
    "AtomicCompletion",
    "CancelPolling",
    "Capability",
    "EventInsights",
    "EventOutbox",
    "EventStorage",
    "ResultStorage",
    "Role",
    "ScheduleStorage",
    "Storage",
    "SyncResultReader",
    "SyncTaskProducer",
    "TaskBrowsing",
    "TaskQueueStorage",
    "TickEnqueue",
    "TickTakeover",
    "takes_single_enqueues",
]
