"""A worker process SIGKILLed in the middle of a task loses nothing: once the lease runs out the
task is recovered (EXPIRED), redelivered to another worker process, and completes, with the
default ``max_retries=0`` (a lost lease is no failed attempt). The lease is 1 s instead of 30 s
only so that the test need not wait; a shorter lease changes when, not whether, it comes back."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from omniq import OmniQ
from omniq.models.event import EventType
from omniq.testing.processes import worker_process

pytestmark = pytest.mark.skipif(
    not any(ep.name == "sqlite" for ep in entry_points(group="omniq.backends")),
    reason="the sqlite backend is not installed",
)

_TASKS = '''
import os
import pathlib
import time

def hang_first_time(value):
    """The first run notes that it started and hangs; any later run returns ``value``."""
    marker = pathlib.Path(os.environ["SIGKILL_MARKER"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(600)
    return value
'''


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    (tmp_path / "sigkill_tasks.py").write_text(_TASKS)
    values = {
        "OMNIQ_TASK_QUEUE_TYPE": "sqlite",
        "OMNIQ_TASK_QUEUE_URL": f"sqlite:///{tmp_path / 'omniq.db'}",
        "OMNIQ_ALLOWED_MODULES": "sigkill_tasks",
        "OMNIQ_LEASE_SECONDS": "1",
        "SIGKILL_MARKER": str(tmp_path / "started"),
        "PYTHONPATH": str(tmp_path),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("sigkill_tasks", None)
    yield values
    sys.modules.pop("sigkill_tasks", None)


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_sigkilled_task_is_redelivered_after_its_lease(env: dict[str, str], tmp_path: Path) -> None:
    import sigkill_tasks  # type: ignore[import-not-found]  # written by the fixture

    with OmniQ(workers=0) as oq:
        task_id = oq.enqueue(sigkill_tasks.hang_first_time, "survived")
        with worker_process(env, cwd=tmp_path, concurrency=1) as doomed:
            _wait_for(tmp_path / "started")
            doomed.kill()
        assert int((tmp_path / "started").read_text()) == doomed.pid
        assert oq.queue_sizes(["default"])["default"].active == 1  # still held by the dead lease
        with worker_process(env, cwd=tmp_path, concurrency=1) as survivor:
            result = oq.get_result(task_id, timeout=120)
            assert survivor.stop() == 0
        kinds = [e.event_type for e in oq.get_events(task_id)]
    assert result == "survived"
    # the killed worker's STARTED event may have died with it (non-terminal events are batched)
    assert EventType.EXPIRED in kinds
    assert kinds[-2:] == [EventType.STARTED, EventType.COMPLETED]
    assert kinds.index(EventType.EXPIRED) < len(kinds) - 2
    # with the default max_retries=0: the kill was no failed attempt, so nothing was used up
    assert {EventType.FAILED, EventType.RETRYING, EventType.DEAD_LETTERED}.isdisjoint(kinds)
