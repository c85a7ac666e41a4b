"""Converting between task records and rows: times as ``timestamptz`` (exact to the
microsecond), tasks as columns, headers as JSON text.

A row read back is checked for what this backend writes: a row someone else wrote or damaged
raises :class:`CorruptRowError`, so the caller can set it aside instead of handing a broken
task to a worker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from omniq.errors import StorageError
from omniq.models.task import Task
from omniq.models.unchecked import unchecked_task

__all__ = [
    "TASK_COLUMNS",
    "TASK_UNNEST",
    "CorruptRowError",
    "task_arrays",
    "task_from_row",
    "task_row",
    "utc",
]

TASK_COLUMNS = (
    "id, queue, priority, eta, enqueued_at, func, payload, serializer, max_retries, "
    "retry_backoff, timeout, result_ttl, headers"
)
"""The columns :func:`task_from_row` reads, in order."""

TASK_UNNEST = (
    "unnest(%s::text[], %s::text[], %s::int[], %s::timestamptz[], %s::timestamptz[], "
    "%s::text[], %s::bytea[], %s::text[], %s::int[], %s::float8[], %s::float8[], "
    "%s::float8[], %s::text[]) AS u(" + TASK_COLUMNS + ")"
)
"""Rows of :data:`TASK_COLUMNS` from the 13 arrays of :func:`task_arrays` (one statement,
one round trip for a whole batch)."""


class CorruptRowError(StorageError):
    """A stored row holds values this backend never writes (damaged, or written by hand)."""


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def task_row(task: Task) -> tuple[Any, ...]:
    """The 13 values of :data:`TASK_COLUMNS` for ``task``."""
    return (
        task.id, task.queue, task.priority, task.eta, task.enqueued_at, task.func, task.payload,
        task.serializer, task.max_retries, float(task.retry_backoff),
        None if task.timeout is None else float(task.timeout),
        None if task.result_ttl is None else float(task.result_ttl),
        orjson.dumps(task.headers).decode() if task.headers else None,
    )  # fmt: skip


def task_arrays(tasks: Any) -> list[list[Any]]:
    """The 13 column arrays of :data:`TASK_UNNEST` for ``tasks``."""
    columns: list[list[Any]] = [[] for _ in range(13)]
    (ids, queues, priorities, etas, enqueued, funcs, payloads, serializers, retries, backoffs,
     timeouts, ttls, headers) = columns  # fmt: skip
    for task in tasks:
        ids.append(task.id)
        queues.append(task.queue)
        priorities.append(task.priority)
        etas.append(task.eta)
        enqueued.append(task.enqueued_at)
        funcs.append(task.func)
        payloads.append(task.payload)
        serializers.append(task.serializer)
        retries.append(task.max_retries)
        backoffs.append(float(task.retry_backoff))
        timeouts.append(None if task.timeout is None else float(task.timeout))
        ttls.append(None if task.result_ttl is None else float(task.result_ttl))
        headers.append(orjson.dumps(task.headers).decode() if task.headers else None)
    return columns


def _headers(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    headers = orjson.loads(value)
    if type(headers) is not dict or not all(type(v) is str for v in headers.values()):
        raise ValueError("headers are not a JSON object of strings")
    return headers


def task_from_row(row: Any) -> Task:
    """The task in the first 13 values of ``row`` (see :data:`TASK_COLUMNS`). The columns are
    typed, so only what the types allow but this backend never writes is checked (the
    headers' JSON, empty names); :class:`CorruptRowError` if one is wrong."""
    try:
        if not row[0] or not row[1] or not row[5] or not row[7]:
            raise ValueError("an empty id, queue, func or serializer")
        eta, enqueued_at = utc(row[3]), utc(row[4])
        return unchecked_task(
            id=row[0],
            queue=row[1],
            priority=row[2],
            eta=enqueued_at if eta == enqueued_at else eta,
            enqueued_at=enqueued_at,
            func=row[5],
            payload=bytes(row[6]),
            serializer=row[7],
            max_retries=row[8],
            retry_backoff=row[9],
            timeout=row[10],
            result_ttl=row[11],
            headers=_headers(row[12]),
        )
    except (ValueError, TypeError, OverflowError, orjson.JSONDecodeError) as exc:
        raise CorruptRowError(str(exc)) from exc
