"""Worker processes sharing one SQLite file: each task runs once, and SIGKILLed workers lose
nothing (their tasks come back after the lease and complete)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omniq.testing.workers import WorkerProcessesConformance

pytestmark = pytest.mark.slow


class TestSQLiteWorkerProcesses(WorkerProcessesConformance):
    @pytest.fixture
    def worker_env(self, tmp_path: Path) -> dict[str, str]:
        return {
            "OMNIQ_TASK_QUEUE_TYPE": "sqlite",
            "OMNIQ_TASK_QUEUE_URL": f"sqlite:///{tmp_path / 'omniq.db'}",
        }
