"""The per-task state record kept in the ``<prefix>_tasks`` KV bucket (key ``t.<task id>``).

JetStream holds a task's *ticket* (a message in the work-queue stream) but cannot say what
state a task is in, who holds it or how often it ran; this record does, and every change to it
is a KV compare-and-set on its revision, which is what fences stale workers. A ticket carries
the record as it was when the ticket was published (for a retried task, with that record's
revision in its ``Omniq-Rev`` header)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from attrs import define
from omniq.models.task import Task, TaskInfo, TaskState
from omniq.serialization.records import record_converter

__all__ = ["StateRecord", "epoch", "from_epoch"]


def epoch(moment: datetime) -> float:
    return moment.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@define
class StateRecord:
    task: dict[str, Any]
    """The task, unstructured (immutable once enqueued)."""
    state: str = TaskState.PENDING.value
    attempt: int = 0
    delivery: int = 0
    token: str | None = None
    expires: float = 0.0
    worker: str | None = None
    error: str | None = None
    cancel: bool = False
    ready: float = 0.0
    """Epoch seconds from which a pending task may be claimed (its eta or retry time)."""
    seq: int = 0
    """Stream sequence of the ticket under which the current lease was taken."""
    changed: float = 0.0

    @classmethod
    def new(cls, task: Task) -> StateRecord:
        return cls(
            task=record_converter().unstructure(task),
            ready=epoch(task.eta),
            changed=time.time(),
        )

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "task": self.task, "s": self.state, "a": self.attempt, "d": self.delivery,
                "k": self.token, "x": self.expires, "w": self.worker, "e": self.error,
                "c": self.cancel, "r": self.ready, "q": self.seq, "u": self.changed,
            }
        )  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> StateRecord:
        raw = orjson.loads(data)
        return cls(
            task=raw["task"], state=raw["s"], attempt=raw["a"], delivery=raw["d"],
            token=raw["k"], expires=raw["x"], worker=raw["w"], error=raw["e"],
            cancel=raw["c"], ready=raw["r"], seq=raw["q"], changed=raw["u"],
        )  # fmt: skip

    def decoded_task(self) -> Task:
        return record_converter().structure(self.task, Task)

    @property
    def queue(self) -> str:
        return str(self.task["queue"])

    @property
    def task_id(self) -> str:
        return str(self.task["id"])

    @property
    def priority(self) -> int:
        return int(self.task.get("priority", 0))

    def info(self, now: float) -> TaskInfo:
        del now
        return TaskInfo(
            task=self.decoded_task(),
            state=TaskState(self.state),
            attempt=self.attempt,
            lease_expires_at=from_epoch(self.expires) if self.state == "active" else None,
            worker_id=self.worker,
            last_error=self.error,
            cancel_requested=self.cancel,
            deliveries=self.delivery,
        )
