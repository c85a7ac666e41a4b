"""The SQLite backend passes the whole conformance suite, on a file per test (the multi-process
tests open the same file from other processes)."""

from pathlib import Path
from typing import Any

import pytest
from omniq.testing import BackendConformance


class TestSQLiteConformance(BackendConformance):
    backend_name = "sqlite"
    event_cap_option = "max_events"

    @pytest.fixture
    def backend_options(self, tmp_path: Path) -> dict[str, Any]:
        return {"database_path": str(tmp_path / "omniq.db")}
