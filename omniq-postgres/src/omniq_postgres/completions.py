"""Applying completions (:class:`~omniq.models.Completion`) in one statement, one transaction:
under each lease, the result (refused if the stored one is of a higher delivery), the events,
then the queue change (ack, dead letter or retry). A stale worker (its lease expired and the
task was claimed again) thus never replaces the newer result, adds a terminal event, or moves
the task. The whole batch is one round trip; the results, retried queues and events are
announced by NOTIFY when it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omniq._time import utcnow
from omniq.models.completion import Completion, CompletionAction
from omniq.models.event import TaskEvent
from omniq.serialization.records import dumps_record

from omniq_postgres.events import EVENT_COLUMNS, EVENT_UNNEST, event_arrays
from omniq_postgres.results import NOTIFY_RESULTS

__all__ = ["COMPLETE", "completion_params"]

RELEASED = "token = NULL, lease_expires = NULL, worker_id = NULL, cancel_requested = false"
"""What a task that leaves its lease gets."""

COMPLETE = (
    "WITH c AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bool[], "
    "%s::bytea[], %s::timestamptz[], %s::int[], %s::float8[], %s::text[]) "
    "AS c(id, token, action, has_result, data, expires_at, delivery, retry_in, note)), "
    "held AS (SELECT t.id, t.queue, c.action, c.has_result, c.data, c.expires_at, c.delivery, "
    "c.retry_in, c.note FROM omniq_tasks t JOIN c ON t.id = c.id AND t.token = c.token "
    "AND t.state = 'active' FOR UPDATE OF t), "
    "res AS (INSERT INTO omniq_results (task_id, data, expires_at, delivery) "
    "SELECT id, data, expires_at, delivery FROM held WHERE has_result "
    "ON CONFLICT (task_id) DO UPDATE SET data = excluded.data, "
    "expires_at = excluded.expires_at, delivery = excluded.delivery "
    "WHERE excluded.delivery >= omniq_results.delivery RETURNING task_id), "
    "ok AS (SELECT * FROM held WHERE NOT has_result OR id IN (SELECT task_id FROM res)), "
    f"ev AS (INSERT INTO omniq_events ({EVENT_COLUMNS}) SELECT e.* FROM {EVENT_UNNEST} "
    "WHERE e.task_id IN (SELECT id FROM ok) ON CONFLICT (id) DO NOTHING), "
    "acked AS (DELETE FROM omniq_tasks t USING ok WHERE t.id = ok.id AND ok.action = 'ack'), "
    "moved AS (UPDATE omniq_tasks t SET "
    "state = CASE WHEN ok.action = 'retry' THEN 'pending' ELSE 'dead' END, "
    "eta = CASE WHEN ok.action = 'retry' THEN now() + ok.retry_in * interval '1 second' "
    "ELSE t.eta END, "
    "ready_at = CASE WHEN ok.action = 'retry' THEN now() + ok.retry_in * interval '1 second' "
    "ELSE t.ready_at END, "
    "finished_at = CASE WHEN ok.action = 'retry' THEN NULL ELSE now() END, "
    f"last_error = ok.note, {RELEASED} FROM ok WHERE t.id = ok.id AND ok.action <> 'ack') "
    f"SELECT ok.id, ok.queue, ok.action, {NOTIFY_RESULTS}, "
    "(SELECT count(pg_notify(%s, 'q ' || queue)) FROM "
    "(SELECT DISTINCT queue FROM ok WHERE action = 'retry') retried), "
    "(SELECT pg_notify(%s, 'e')) FROM ok"
)
"""Parameters: :func:`completion_params`, then the channel three times."""


def completion_params(completions: Sequence[Completion], channel: str) -> tuple[Any, ...]:
    """The parameters of :data:`COMPLETE` for ``completions`` (their task ids distinct)."""
    now = utcnow()
    ids, tokens, actions, has_result, data, expires, deliveries, retry_in, notes = (
        [] for _ in range(9)
    )
    events: list[TaskEvent] = []
    for c in completions:
        ids.append(c.lease.task_id)
        tokens.append(c.lease.token)
        actions.append(c.action.value)
        result = c.result
        has_result.append(result is not None)
        data.append(b"" if result is None else dumps_record(result))
        expires.append(None if result is None else result.expires_at)
        deliveries.append(0 if result is None else result.delivery)
        retry = c.retry_at
        retry_in.append(0.0 if retry is None else max((retry - now).total_seconds(), 0.0))
        notes.append(c.reason if c.action is CompletionAction.DEAD_LETTER else c.error)
        events.extend(c.events)
    return (
        ids, tokens, actions, has_result, data, expires, deliveries, retry_in, notes,
        *event_arrays(events), channel, channel, channel,
    )  # fmt: skip
