"""Mixed roles end to end: the queue on NATS, results and events on SQLite, schedules on NATS;
a worker process runs the tasks and the results are read from SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omniq import OmniQ
from omniq.models.event import EventType
from omniq.testing.processes import WorkerProcess, use_task_module
from omniq.testing.workers import wait_until_drained

pytestmark = pytest.mark.slow


@pytest.mark.timeout(120)
def test_queue_on_nats_results_and_events_on_sqlite(
    nats_server: Any, nats_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "results.db"
    store_env = {
        "OMNIQ_TASK_QUEUE_TYPE": "nats",
        "OMNIQ_TASK_QUEUE_URL": nats_server.url,
        "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"prefix": "{nats_prefix}"}}',
        "OMNIQ_RESULT_STORAGE_TYPE": "sqlite",
        "OMNIQ_RESULT_STORAGE_URL": f"sqlite:///{database}",
        "OMNIQ_EVENT_STORAGE_TYPE": "sqlite",
        "OMNIQ_EVENT_STORAGE_URL": f"sqlite:///{database}",
    }
    used = use_task_module(tmp_path, monkeypatch, store_env)
    env, tasks = used.env, used.module
    with OmniQ(workers=0) as oq:
        assert type(oq.stores.task_queue).__module__.startswith("omniq_nats")
        assert type(oq.stores.results).__module__.startswith("omniq_sqlite")
        ids = oq.enqueue_many([(tasks.record, (n,)) for n in range(200)])
        worker = WorkerProcess(env, cwd=tmp_path, concurrency=8)
        try:
            wait_until_drained(oq, [worker], timeout=90)
            assert worker.stop() == 0
        finally:
            worker.close()
        results = [oq.get_result(i, timeout=10) for i in ids]
        completed = oq.query_events(event_types=[EventType.COMPLETED], limit=1000)
    assert results == list(range(200))
    assert {e.task_id for e in completed} == set(ids)
