"""Converting between records and rows: times as integer microseconds (exact), tasks as
columns (read and filtered by SQL), other records as cattrs-made JSON blobs.

A row read back is checked for the types this backend writes (a few ``type()`` tests, cheap
beside the statement): a row someone else wrote or damaged raises :class:`CorruptRowError`, so
the caller can set it aside instead of handing a task with, say, a text priority to a worker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from omniq.errors import StorageError
from omniq.models.task import Task
from omniq.models.unchecked import unchecked_task

__all__ = [
    "TASK_COLUMNS",
    "CorruptRowError",
    "from_micros",
    "micros",
    "task_from_row",
    "task_row",
]

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


class CorruptRowError(StorageError):
    """A stored row holds values this backend never writes (damaged, or written by hand)."""


_NUMBER = (float, int)
_OPTIONAL_NUMBER = (float, int, type(None))
_TASK_TYPES: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("id", (str,)),
    ("queue", (str,)),
    ("priority", (int,)),
    ("eta", (int,)),
    ("enqueued_at", (int,)),
    ("func", (str,)),
    ("payload", (bytes,)),
    ("serializer", (str,)),
    ("max_retries", (int,)),
    ("retry_backoff", _NUMBER),
    ("timeout", _OPTIONAL_NUMBER),
    ("result_ttl", _OPTIONAL_NUMBER),
    ("headers", (str, type(None))),
)


_GOOD_TYPES: set[tuple[type, ...]] = set()
"""The column types of rows found good so far (a few dozen combinations at most): most rows
are checked with one set lookup."""


def _wrong_column(row: Any) -> str | None:
    """What is wrong with the first of :data:`TASK_COLUMNS` whose value has a type this
    backend never writes; None if there is none."""
    types = tuple(map(type, row[:13]))
    if types in _GOOD_TYPES:
        return None
    for position, (name, allowed) in enumerate(_TASK_TYPES):
        if type(row[position]) not in allowed:
            return f"column {name} holds {type(row[position]).__name__} {row[position]!r:.40}"
    _GOOD_TYPES.add(types)
    return None


def _headers(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    headers = json.loads(value)
    if type(headers) is not dict or not all(type(v) is str for v in headers.values()):
        raise ValueError("headers are not a JSON object of strings")
    return headers


def task_from_row(row: Any) -> Task:
    """The task in the first 13 values of ``row`` (see :data:`TASK_COLUMNS`). Its values were
    validated when it was enqueued, so only their types are checked (and the headers' JSON);
    :class:`CorruptRowError` if one is not what this backend writes."""
    wrong = _wrong_column(row)
    if wrong is not None:
        raise CorruptRowError(wrong)
    try:
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
            headers=_headers(row[12]),
        )
    except (ValueError, OverflowError) as exc:  # json.JSONDecodeError is a ValueError
        raise CorruptRowError(str(exc)) from exc
