"""The hand-written (un)structure functions of the hot records give what cattrs' generated ones
give, refuse what those refuse, and records survive a round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cattrs.errors import ClassValidationError
from omniq.errors import ValidationError
from omniq.models import EventType, ResultStatus, Task, TaskError, TaskEvent, TaskResult
from omniq.serialization.records import (
    dumps_record,
    generic_converter,
    loads_record,
    make_converter,
)

NOW = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)

RECORDS = [
    Task(func="m:f", payload=b"[[1],{}]", id="t0", enqueued_at=NOW),
    Task(
        func="app.tasks:send",
        serializer="pickle",
        id="01JDZ7Q8Y2M3N4P5Q6R7S8T9V0",
        queue="emails",
        priority=-3,
        enqueued_at=NOW,
        eta=NOW + timedelta(days=1),
        max_retries=2,
        retry_backoff=0.5,
        timeout=1.5,
        result_ttl=3600.0,
        headers={"schedule": "daily"},
    ),
    TaskEvent(event_type=EventType.ENQUEUED, task_id="t1", timestamp=NOW, id="e1"),
    TaskEvent(
        event_type=EventType.FAILED,
        task_id="t1",
        timestamp=NOW.replace(microsecond=0),
        id="e2",
        queue="q",
        worker_id="w",
        attempt=3,
        details={"error": "boom", "will_retry": False, "nested": {"a": [1, 2]}},
    ),
    TaskResult(task_id="t1", status=ResultStatus.SUCCESS, payload=b"\x00\x01json", attempt=2),
    TaskResult(
        task_id="t2",
        status=ResultStatus.FAILURE,
        error=TaskError(type="ValueError", message="bad", traceback="Traceback..."),
        completed_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        worker_id="w",
    ),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_fast_unstructure_matches_cattrs(record: object) -> None:
    assert make_converter().unstructure(record) == generic_converter().unstructure(record)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_round_trip(record: object) -> None:
    assert loads_record(dumps_record(record), type(record)) == record


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_fast_structure_matches_cattrs(record: object) -> None:
    doc = generic_converter().unstructure(record)
    fast = make_converter().structure(doc, type(record))
    assert fast == generic_converter().structure(doc, type(record)) == record


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_unknown_or_missing_keys_are_refused(record: object) -> None:
    doc = make_converter().unstructure(record)
    with pytest.raises(ClassValidationError) as extra:
        make_converter().structure({**doc, "surprise": 1}, type(record))
    assert "surprise" in repr(extra.value.exceptions)
    incomplete = dict(doc)
    first = next(iter(doc))
    del incomplete[first]
    with pytest.raises(ClassValidationError) as missing:
        make_converter().structure(incomplete, type(record))
    assert first in repr(missing.value.exceptions) + str(missing.value.exceptions[0].__notes__)


def test_names_read_back_are_still_validated() -> None:
    doc = make_converter().unstructure(RECORDS[0])
    with pytest.raises(ValidationError, match="queue"):
        make_converter().structure({**doc, "queue": "../etc"}, Task)
