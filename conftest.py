"""For the whole suite: the order and grouping of tests under pytest-xdist.

``scripts/test.sh`` runs pytest with pytest-xdist (``-n auto --dist loadgroup``), which hands
tests to the workers in collection order, one work unit at a time, as they become free.

- The chaos suite (``tests/chaos/``) is one work unit: its tests run one after another on one
  worker, never two at once. Each starts a dozen worker processes that it SIGKILLs, SIGSTOPs and
  restarts against default leases; two of them at once on two cores starve each other's
  workers. (By path, not by an ``xdist_group`` marker: xdist 3.8 marks a group by rewriting
  ``item._nodeid``, which pytest 9.2 no longer reads, so its markers group nothing.)
- A multi-minute test picked up last would leave a core idle while it runs alone, so the long
  ones come first: the tests marked ``chaos``, then those marked ``slow``, then the rest in their
  usual order (the same order on every worker, as xdist requires). Without xdist, the order is
  the same.
"""

from __future__ import annotations

from typing import Any

import pytest

CHAOS_SUITE = "tests/chaos/"


def _rank(item: pytest.Item) -> int:
    if item.get_closest_marker("chaos") is not None:
        return 0
    if item.get_closest_marker("slow") is not None:
        return 1
    return 2


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
