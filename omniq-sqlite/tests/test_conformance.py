"""The SQLite backend passes the whole conformance suite, on a file per test."""

from collections.abc import Callable
from pathlib import Path

import omniq
import pytest
from omniq.backend.base import Backend
from omniq.testing import BackendConformance


class TestSQLiteConformance(BackendConformance):
    backend_name = "sqlite"

    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> Callable[[], Backend]:
        path = str(tmp_path / "omniq.db")
        return lambda: omniq.load_backend("sqlite", database_path=path)
