"""Both example backends, built on the kit, pass the whole conformance suite; the JSON file
one declares MULTI_PROCESS, so it also passes the real-process tests."""

from pathlib import Path
from typing import Any

import pytest
from omniq.testing import BackendConformance


class TestExampleConformance(BackendConformance):
    backend_name = "example"


class TestExampleJsonFileConformance(BackendConformance):
    backend_name = "example-json"
    volume = 0.4  # every write rewrites the whole file: fewer tasks in the volume tests
    task_count = 300
    sigkill_task_count = 300

    @pytest.fixture
    def backend_options(self, tmp_path: Path) -> dict[str, Any]:
        return {"path": str(tmp_path / "store.json")}
