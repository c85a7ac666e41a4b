"""Three scheduler processes on one nats-server, one SIGKILLed midway, fire each tick of a 1 s
interval schedule exactly once over 60 s, with the default settings: a tick is claimed by a KV
update with the revision read (a second claimer's write is refused), and that write records the
tick's task as unconfirmed until it is enqueued, so a tick whose claimer was killed before it
enqueued is enqueued by another scheduler — none missing, none twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from omniq import OmniQ
from omniq.models.event import EventType

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

RUN_SECONDS = 60.0
NAME = "every-second"


def _scheduler(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "omniq", "scheduler"],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.timeout(180)
def test_three_schedulers_one_killed_fire_each_tick_once(
    nats_server: Any, nats_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sched_tasks.py").write_text("def tick():\n    return None\n")
    env = {
        "OMNIQ_TASK_QUEUE_TYPE": "nats",
        "OMNIQ_TASK_QUEUE_URL": nats_server.url,
        "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"prefix": "{nats_prefix}"}}',
        "OMNIQ_ALLOWED_MODULES": "sched_tasks",
        "PYTHONPATH": str(tmp_path),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("sched_tasks", None)
    import sched_tasks  # type: ignore[import-not-found]

    with OmniQ(workers=0, scheduler=False) as oq:
        # catch_up: a scheduler the busy machine delays past a tick fires it late, not never
        oq.schedule(sched_tasks.tick, interval=1.0, name=NAME, misfire_policy="catch_up")
        schedulers = [_scheduler(env, tmp_path) for _ in range(3)]
        try:
            time.sleep(RUN_SECONDS / 2)
            schedulers[0].send_signal(signal.SIGKILL)  # midway, wherever it is
            schedulers[0].wait(timeout=30)
            time.sleep(RUN_SECONDS / 2)
        finally:
            for process in schedulers[1:]:
                process.send_signal(signal.SIGTERM)
            codes = [process.wait(timeout=60) for process in schedulers[1:]]
        time.sleep(6.0)  # past the takeover time: nothing claimed is left unconfirmed
        stored = oq.get_schedule(NAME)
        events = oq.query_events(event_types=[EventType.ENQUEUED], limit=100_000)
        pending = oq.queue_sizes(["default"])["default"].pending
        queued = oq.list_tasks("default", limit=100_000)
    assert codes == [0, 0]
    assert stored is not None and stored.last_fired_at is not None
    fired = Counter(e.details["tick"] for e in events if e.details.get("schedule") == NAME)
    assert {t: n for t, n in fired.items() if n != 1} == {}, "a tick's task enqueued twice"
    # the tasks are the truth (a killed scheduler's last events may die in its buffer)
    ticks = sorted(i.task.headers["tick"] for i in queued if i.task.headers.get("schedule") == NAME)
    assert len(ticks) == len(set(ticks)) == pending, "one task per tick, under the tick's id"
    assert len(ticks) >= RUN_SECONDS * 0.9, f"only {len(ticks)} ticks fired in {RUN_SECONDS} s"
    first = datetime.fromisoformat(ticks[0])
    span = int((stored.last_fired_at - first).total_seconds()) + 1
    grid = [(first + timedelta(seconds=i)).isoformat() for i in range(span)]
    assert set(ticks) <= set(grid), "a tick off the schedule's 1 s grid"
    assert sorted(set(grid) - set(ticks)) == [], "ticks never fired"
