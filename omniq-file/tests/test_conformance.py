"""The file backend passes the conformance suite on a local directory and on fsspec's
in-memory filesystem (where it declares no MULTI_PROCESS)."""

import uuid
from collections.abc import Callable
from pathlib import Path

import omniq
import pytest
from omniq.backend.base import Backend
from omniq.testing import BackendConformance


class TestLocalDirectory(BackendConformance):
    backend_name = "file"

    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> Callable[[], Backend]:
        return lambda: omniq.load_backend("file", base_dir=str(tmp_path / "data"))


class TestMsgpackFormat(TestLocalDirectory):
    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> Callable[[], Backend]:
        return lambda: omniq.load_backend(
            "file", base_dir=str(tmp_path / "data"), serialization_format="msgpack"
        )


class TestFsspecMemory(BackendConformance):
    backend_name = "file"

    @pytest.fixture
    def backend_factory(self) -> Callable[[], Backend]:
        uri = f"memory://omniq-{uuid.uuid4().hex[:8]}"
        return lambda: omniq.load_backend("file", fsspec_uri=uri)
