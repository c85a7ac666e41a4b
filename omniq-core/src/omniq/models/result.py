"""Task results as result storage keeps them."""

from __future__ import annotations

import enum
from datetime import datetime

from attrs import field, frozen

from omniq._time import as_utc, as_utc_or_none, utcnow

__all__ = ["ResultStatus", "TaskError", "TaskResult"]


class ResultStatus(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"


@frozen(kw_only=True)
class TaskError:
    """A task's exception, as text: the worker never ships exception objects."""

    type: str
    """Qualified name of the exception class, e.g. ``"builtins.ValueError"``."""
    message: str
    traceback: str = ""


@frozen(kw_only=True)
class TaskResult:
    """The outcome of a task: its serialized return value, or its error."""

    task_id: str
    status: ResultStatus
    payload: bytes | None = None
    """The return value serialized with :attr:`serializer` (``None`` for failures)."""
    serializer: str = "json"
    error: TaskError | None = None
    completed_at: datetime = field(factory=utcnow, converter=as_utc)
    expires_at: datetime | None = field(default=None, converter=as_utc_or_none)
    """When the result may be dropped; ``None`` keeps it until deleted."""
    attempt: int = 1
    worker_id: str | None = None
    delivery: int = 0
    """The delivery (:attr:`~omniq.models.Lease.delivery`) that produced this result: a result
    store refuses a result of a lower delivery than the one it holds, so a stale worker never
    replaces a newer outcome. 0 for results not made by a worker run."""

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now
