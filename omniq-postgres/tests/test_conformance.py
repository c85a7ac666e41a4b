"""The PostgreSQL backend passes the whole conformance suite against a real server (the
multi-process tests open it from other processes with the same options)."""

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from omniq.testing import BackendConformance


class TestPostgresConformance(BackendConformance):
    backend_name = "postgres"
    event_cap_option = "max_events"

    # The figures: 4 worker processes through 20,000 tasks, each once; 1,000 tasks when
    # they are SIGKILLed. Marked slow so that the long run starts first (root conftest.py).
    task_count = 20_000
    sigkill_task_count = 1_000

    @pytest.mark.slow
    @pytest.mark.timeout(600)
    def test_worker_processes_run_each_task_once(
        self, e2e: tuple[dict[str, str], Path, ModuleType], tmp_path: Path
    ) -> None:
        super().test_worker_processes_run_each_task_once(e2e, tmp_path)

    @pytest.fixture
    def backend_options(self, postgres_server: Any, schema: str) -> dict[str, Any]:
        return {"url": postgres_server.dsn(), "schema": schema}
