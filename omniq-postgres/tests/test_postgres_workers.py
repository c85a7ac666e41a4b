"""Worker processes on one PostgreSQL server: each of 20,000 tasks runs once across 4 worker
processes, SIGKILLed workers lose nothing (the conformance suite's multi-process class)."""

from __future__ import annotations

from typing import Any

import pytest
from omniq.testing.workers import WorkerProcessesConformance

pytestmark = pytest.mark.slow


class TestPostgresWorkerProcesses(WorkerProcessesConformance):
    @pytest.fixture
    def worker_env(self, postgres_server: Any, schema: str) -> dict[str, str]:
        return {
            "OMNIQ_TASK_QUEUE_URL": postgres_server.dsn(),
            "OMNIQ_TASK_QUEUE_TYPE": "postgres",
            "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"schema": "{schema}"}}',
        }
