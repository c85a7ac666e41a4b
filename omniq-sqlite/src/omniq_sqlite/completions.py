"""Applying completions (:class:`~omniq.models.Completion`) in the task queue's transaction.

When the results and events live in the queue's database, a worker's outcome is one write:
under the lease, the result (refused if the stored one is of a higher delivery), the events,
then the queue change. A stale worker (its lease expired and the task was claimed again) thus
never replaces the newer result, adds a terminal event, or moves the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attrs import frozen
from omniq.models.completion import Completion, CompletionAction

from omniq_sqlite.events import INSERT_EVENT, event_row
from omniq_sqlite.inserts import insert_many
from omniq_sqlite.results import result_row, store_results
from omniq_sqlite.rows import micros

__all__ = [
    "ACK",
    "DEAD_LETTER",
    "HELD",
    "NACK",
    "CompletionRows",
    "apply_completions",
    "completion_rows",
]

HELD = "id = ? AND token = ? AND state = 'active'"
"""A task under the lease whose id and token are the statement's last two parameters."""
_RELEASED = "token = NULL, lease_expires = NULL, worker_id = NULL, cancel_requested = 0"
_IS_HELD = f"SELECT queue FROM omniq_tasks WHERE {HELD}"
ACK = f"DELETE FROM omniq_tasks WHERE {HELD}"
"""Parameters: task id, token."""
DEAD_LETTER = (
    f"UPDATE omniq_tasks SET state = 'dead', {_RELEASED}, last_error = ?, finished_at = ? "
    f"WHERE {HELD}"
)
"""Parameters: reason, finished_at (µs), task id, token."""
NACK = (
    f"UPDATE omniq_tasks SET state = 'pending', eta = ?, {_RELEASED}, last_error = ?, "
    f"attempt = attempt - ? WHERE {HELD}"
)
"""Parameters: eta (µs), last error, attempts given back (0 or 1), task id, token."""


@frozen
class CompletionRows:
    """One completion as the values its statements take (made before the transaction)."""

    task_id: str
    token: str
    action: CompletionAction
    result: tuple[Any, ...] | None
    events: list[tuple[Any, ...]]
    retry_at_us: int | None
    note: str | None
    """The dead letter's reason, or the retry's error (the task's ``last_error``)."""


def completion_rows(completions: Sequence[Completion]) -> list[CompletionRows]:
    return [
        CompletionRows(
            c.lease.task_id,
            c.lease.token,
            c.action,
            None if c.result is None else result_row(c.result),
            [event_row(e) for e in c.events],
            None if c.retry_at is None else micros(c.retry_at),
            c.reason if c.action is CompletionAction.DEAD_LETTER else c.error,
        )
        for c in completions
    ]


def apply_completions(
    conn: Any, completions: Sequence[CompletionRows], now_us: int
) -> tuple[list[bool], set[str]]:
    """Apply each completion whose lease is current, in the caller's transaction. Returns
    whether each was applied, and the queues of the tasks made pending again."""
    applied: list[bool] = []
    retried: set[str] = set()
    for c in completions:
        held = conn.execute(_IS_HELD, (c.task_id, c.token)).fetchone()
        if held is None or (c.result is not None and not store_results(conn, [c.result])[0]):
            applied.append(False)
            continue
        insert_many(conn, INSERT_EVENT, c.events)
        lease = (c.task_id, c.token)
        if c.action is CompletionAction.ACK:
            conn.execute(ACK, lease)
        elif c.action is CompletionAction.DEAD_LETTER:
            conn.execute(DEAD_LETTER, (c.note, now_us, *lease))
        else:
            retry_at = now_us if c.retry_at_us is None else c.retry_at_us
            conn.execute(NACK, (retry_at, c.note, 0, *lease))  # the failed attempt counts
            retried.add(held[0])
        applied.append(True)
    return applied, retried
