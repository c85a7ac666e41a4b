"""Converting between records and rows: times as integer microseconds (exact), tasks as
columns (read and filtered by SQL), other records as cattrs-made JSON blobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from omniq.models.task import Task
from omniq.models.unchecked import unchecked_task

__all__ = ["TASK_COLUMNS", "from_micros", "micros", "task_from_row", "task_row"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

TASK_COLUMNS = (
    "id, queue, priority, eta, enqueued_at, func, payload, serializer, max_retries, "
    "retry_backoff, timeout, result_ttl, headers"
)
"""The columns :func:`task_from_row` reads, in order."""


def micros(moment: datetime) -> int:
    """``moment`` as whole microseconds since the epoch (exact, unlike a float)."""
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def task_row(task: Task) -> tuple[Any, ...]:
    """The values of :data:`TASK_COLUMNS` for ``task``."""
    enqueued_at = micros(task.enqueued_at)
    return (
        task.id,
        task.queue,
        task.priority,
        enqueued_at if task.eta is task.enqueued_at else micros(task.eta),  # a task due at once
        enqueued_at,
        task.func,
        task.payload,
        task.serializer,
        task.max_retries,
        task.retry_backoff,
        task.timeout,
        task.result_ttl,
        json.dumps(task.headers) if task.headers else None,
    )


def task_from_row(row: Any) -> Task:
    """The task in the first 13 values of ``row`` (see :data:`TASK_COLUMNS`); its values were
    validated when it was enqueued, so they are not checked again."""
    return unchecked_task(
        id=row[0],
        queue=row[1],
        priority=row[2],
        eta=from_micros(row[3]),
        enqueued_at=from_micros(row[4]),
        func=row[5],
        payload=row[6],
        serializer=row[7],
        max_retries=row[8],
        retry_backoff=row[9],
        timeout=row[10],
        result_ttl=row[11],
        headers=json.loads(row[12]) if row[12] else {},
    )
