"""The file backend passes the conformance suite on a local directory and on fsspec's
in-memory filesystem (where it declares no MULTI_PROCESS)."""

import uuid
from pathlib import Path
from typing import Any

import pytest
from omniq.testing import BackendConformance


class TestLocalDirectory(BackendConformance):
    backend_name = "file"
    event_cap_option = "max_events"

    @pytest.fixture
    def backend_options(self, tmp_path: Path) -> dict[str, Any]:
        return {"base_dir": str(tmp_path / "data")}


class TestMsgpackFormat(TestLocalDirectory):
    @pytest.fixture
    def backend_options(self, tmp_path: Path) -> dict[str, Any]:
        return {"base_dir": str(tmp_path / "data"), "serialization_format": "msgpack"}


class TestFsspecMemory(BackendConformance):
    backend_name = "file"
    event_cap_option = "max_events"

    @pytest.fixture
    def backend_options(self) -> dict[str, Any]:
        return {"fsspec_uri": f"memory://omniq-{uuid.uuid4().hex[:8]}"}
