"""The hand-written unstructure functions of the hot records give what cattrs' generated ones
give, and records survive a round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from omniq.models import EventType, ResultStatus, TaskError, TaskEvent, TaskResult
from omniq.serialization.records import (
    dumps_record,
    generic_converter,
    loads_record,
    make_converter,
)

NOW = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)

RECORDS = [
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
