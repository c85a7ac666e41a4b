"""For the whole suite: the order and grouping of tests under pytest-xdist.

``scripts/test.sh`` runs pytest with pytest-xdist (``-n auto --dist loadgroup``), which hands
tests to the workers in collection order, one work unit at a time, as they become free.

- The chaos suite (``tests/chaos/``) is one work unit: its tests run one after another on one
  worker, never two at once. Each starts a dozen worker processes that it SIGKILLs, SIGSTOPs and
  restarts against default leases; two of them at once on two cores starve each other's
  workers. (By path, not by an ``xdist_group`` marker: xdist 3.8 marks a group by rewriting
  ``item._nodeid``, which pytest 9.2 no longer reads, so its markers group nothing.)
- A multi-minute test picked up last would leave a core idle while it runs alone, so the long
  ones come first: the tests marked ``chaos``, then those marked ``slow`` (and the 20,000-task
  worker-process runs of conformance classes), then the rest in their
  usual order (the same order on every worker, as xdist requires). Without xdist, the order is
  the same.
"""

from __future__ import annotations

from typing import Any

import pytest

CHAOS_SUITE = "tests/chaos/"


LONG_RUN_TASKS = 10_000
"""A conformance class whose ``task_count`` reaches this (Postgres's and NATS's 20,000) runs a
long worker-process test: it ranks with the ``slow`` ones."""


def _rank(item: pytest.Item) -> int:
    if item.get_closest_marker("chaos") is not None:
        return 0
    if item.get_closest_marker("slow") is not None or _is_long_run(item):
        return 1
    return 2


def _is_long_run(item: pytest.Item) -> bool:
    cls = getattr(item, "cls", None)
    return (
        getattr(item, "originalname", None) == "test_worker_processes_run_each_task_once"
        and getattr(cls, "task_count", 0) >= LONG_RUN_TASKS
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: within a rank, the collection order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` whose groups are the chaos suite, plus any ``@group`` nodeid."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Scheduling(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(CHAOS_SUITE):
                return CHAOS_SUITE
            return str(super()._split_scope(nodeid))

    return Scheduling(config, log)
