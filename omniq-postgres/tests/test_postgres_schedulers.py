"""Three ``omniq scheduler`` processes on one PostgreSQL schema, one SIGKILLed midway, fire each
tick of a 1 s interval schedule exactly once over 60 s: no tick twice (one ``enqueued`` event per
tick task), none missed (consecutive ticks), and every claimed tick's task enqueued (the tick row
and the enqueue commit together)."""

from __future__ import annotations

import itertools
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
from omniq.models.task import TaskState
from omniq.testing.processes import use_task_module

pytestmark = pytest.mark.chaos

RUN_FOR = 60.0


def _scheduler(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    log = (cwd / f"scheduler-{os.urandom(3).hex()}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "omniq", "scheduler"],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.timeout(180)
def test_three_schedulers_one_killed_fire_each_tick_once(
    postgres_server: Any, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used = use_task_module(
        tmp_path,
        monkeypatch,
        {
            "OMNIQ_TASK_QUEUE_TYPE": "postgres",
            "OMNIQ_TASK_QUEUE_URL": postgres_server.dsn(),
            "OMNIQ_TASK_QUEUE_OPTIONS": f'{{"schema": "{schema}"}}',
        },
    )
    env, tasks = used.env, used.module
    schedulers: list[subprocess.Popen[bytes]] = []
    try:
        with OmniQ(workers=0, scheduler=False) as oq:
            oq.schedule(tasks.record, 1, interval=1.0, name="every-second")
            schedulers = [_scheduler(env, tmp_path) for _ in range(3)]
            deadline = time.monotonic() + 60
            while not oq.list_tasks("default", state=TaskState.PENDING, limit=1):
                assert time.monotonic() < deadline, "no scheduler fired the schedule"
                time.sleep(0.1)  # the 60 s start with the first tick fired
            started = time.monotonic()
            time.sleep(RUN_FOR / 2)
            schedulers[0].send_signal(signal.SIGKILL)
            time.sleep(max(RUN_FOR - (time.monotonic() - started), 0))
            for process in schedulers[1:]:
                process.send_signal(signal.SIGTERM)
            assert [p.wait(timeout=60) for p in schedulers[1:]] == [0, 0]
            fired = oq.list_tasks("default", state=TaskState.PENDING, limit=10_000)
            time.sleep(
                1.0
            )  # the survivors' event writers flushed at shutdown; the killed one's may not
            enqueued = oq.query_events(event_types=[EventType.ENQUEUED], limit=10_000)
    finally:
        for process in schedulers:
            if process.poll() is None:
                process.kill()
                process.wait()
    ticks = sorted(datetime.fromisoformat(info.task.headers["tick"]) for info in fired)
    rows = postgres_server.execute(f"SELECT count(*) FROM {schema}.omniq_schedule_ticks")
    per_task = Counter(e.task_id for e in enqueued if e.details.get("schedule") == "every-second")
    print(f"{len(ticks)} ticks fired in {RUN_FOR:.0f} s by 3 schedulers (one killed midway)")
    assert len(ticks) >= RUN_FOR - 5
    gaps = [(a, b) for a, b in itertools.pairwise(ticks) if b - a != timedelta(seconds=1)]
    assert gaps == [], f"ticks missed or fired off the interval: {gaps[:5]}"
    assert rows == [(len(ticks),)], "a claimed tick whose task was not enqueued"
    assert max(per_task.values()) == 1, "a tick fired twice"
