"""How a worker finishes a task it holds: one record per task, applied under its lease."""

from __future__ import annotations

import enum
from datetime import datetime

from attrs import frozen

from omniq.models.event import TaskEvent
from omniq.models.result import TaskResult
from omniq.models.task import Lease

__all__ = ["Completion", "CompletionAction"]


class CompletionAction(enum.StrEnum):
    """What happens to the task in the queue once its outcome is stored."""

    ACK = "ack"
    """Finished (success or cancellation): the task leaves the queue."""
    DEAD_LETTER = "dead_letter"
    """Failed for good: the task moves to the dead letters with :attr:`Completion.reason`."""
    RETRY = "retry"
    """Failed with attempts left: pending again from :attr:`Completion.retry_at`."""


@frozen(kw_only=True)
class Completion:
    """A task's outcome, to be applied only while :attr:`lease` is the task's current lease.

    A backend that applies completions itself (:class:`~omniq.storage.AtomicCompletion`) stores
    :attr:`result` (if any, with the delivery compare of result storage), appends
    :attr:`events`, then makes the queue change, all or nothing per completion.
    """

    lease: Lease
    action: CompletionAction
    result: TaskResult | None = None
    events: tuple[TaskEvent, ...] = ()
    """The terminal events (``completed``, ``failed``, ``dead_lettered``, ``retrying``...)."""
    retry_at: datetime | None = None
    """For :attr:`CompletionAction.RETRY`: when the task is claimable again."""
    error: str | None = None
    """For :attr:`CompletionAction.RETRY`: the error kept as the task's ``last_error``."""
    reason: str | None = None
    """For :attr:`CompletionAction.DEAD_LETTER`: why, kept with the dead letter."""
