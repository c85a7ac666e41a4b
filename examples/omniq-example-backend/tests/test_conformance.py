"""The example backend, written from the author's guide alone, passes the conformance suite."""

from omniq.testing import BackendConformance


class TestExampleConformance(BackendConformance):
    backend_name = "example"
