"""The unchecked constructors make the records attrs would make from the same values, and set
every field of their models (a field added to a model fails here, not in production)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from omniq.models import ClaimedTask, EventType, Lease, Task, TaskEvent
from omniq.models.unchecked import unchecked_claim, unchecked_event, unchecked_task

NOW = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)


def _values(record: object) -> dict[str, object]:
    return attrs.asdict(record, recurse=False)  # type: ignore[arg-type]


def test_unchecked_task_equals_the_checked_one() -> None:
    values = {
        "func": "app.tasks:send",
        "payload": b'{"args":[1],"kwargs":{}}',
        "serializer": "json",
        "id": "01JDZ7Q8Y2M3N4P5Q6R7S8T9V0",
        "queue": "emails",
        "priority": 5,
        "enqueued_at": NOW,
        "eta": NOW + timedelta(seconds=30),
        "max_retries": 3,
        "retry_backoff": 2.0,
        "timeout": 10.0,
        "result_ttl": 60.0,
        "headers": {"schedule": "daily"},
    }
    assert set(values) == {a.name for a in attrs.fields(Task)}
    assert unchecked_task(**values) == Task(**values)  # type: ignore[arg-type]


def test_unchecked_event_equals_the_checked_one() -> None:
    values: dict[str, Any] = {
        "event_type": EventType.COMPLETED,
        "task_id": "t1",
        "queue": "default",
        "timestamp": NOW,
        "id": "e1",
        "worker_id": "w1",
        "attempt": 2,
        "details": {"duration": 0.5},
    }
    assert set(values) == {a.name for a in attrs.fields(TaskEvent)}
    assert unchecked_event(**values) == TaskEvent(**values)


def test_unchecked_event_defaults_to_now_and_a_new_sortable_id() -> None:
    first = unchecked_event(EventType.STARTED, "t1", queue=None)
    second = unchecked_event(EventType.STARTED, "t1", queue=None)
    assert first.id < second.id
    assert first.timestamp.tzinfo is UTC
    assert abs(datetime.now(UTC) - first.timestamp) < timedelta(seconds=5)
    assert first.details == {} and first.details is not second.details


def test_unchecked_claim_equals_the_checked_one() -> None:
    task = Task(func="app:f", id="t1")
    claimed = unchecked_claim(task, token="tok", expires_at=NOW, attempt=1, worker_id="w")
    lease = Lease(task_id="t1", token="tok", expires_at=NOW, attempt=1, worker_id="w")
    assert claimed == ClaimedTask(task=task, lease=lease)
    assert set(_values(claimed.lease)) == {a.name for a in attrs.fields(Lease)}
