"""Worker processes sharing one local directory: each task runs once, and SIGKILLed workers
lose nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from omniq.testing.workers import WorkerProcessesConformance

pytestmark = pytest.mark.slow


class TestFileWorkerProcesses(WorkerProcessesConformance):
    task_count = 10_000

    @pytest.fixture
    def worker_env(self, tmp_path: Path) -> dict[str, str]:
        return {
            "OMNIQ_TASK_QUEUE_TYPE": "file",
            "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"base_dir": "{tmp_path / "data"}"}}',
        }
