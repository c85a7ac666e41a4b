"""The memory backend passes the whole conformance suite."""

from omniq.testing import BackendConformance


class TestMemoryConformance(BackendConformance):
    backend_name = "memory"
