"""Supervised loops: restarted when they end while the program runs, left alone when the event
loop itself is ending with the app still open."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from omniq import AsyncOmniQ
from omniq.runtime.supervision import RESTART_PAUSE, supervise
from structlog.testing import capture_logs

log = structlog.get_logger("test")


async def forever() -> None:
    await asyncio.Event().wait()


def test_loops_cancelled_by_asyncio_run_ending_are_not_restarted() -> None:
    restarted: list[asyncio.Task[None]] = []

    async def main() -> None:
        for n in range(3):
            supervise(
                f"loop-{n}",
                forever,
                wanted=lambda task: True,  # its owner never stopped it
                restarted=lambda old, new: restarted.append(new),
                log=log,
                event="loop ended unexpectedly",
            )
        await asyncio.sleep(0.01)  # and returns: asyncio.run cancels the loops

    with capture_logs() as logs:
        asyncio.run(main())
    assert restarted == []
    assert [entry["log_level"] for entry in logs] == ["warning"]  # one hint, no errors
    assert "close it before the loop ends" in logs[0]["event"]


async def test_a_loop_cancelled_while_the_program_runs_is_restarted() -> None:
    restarted: list[asyncio.Task[None]] = []
    wanted = True
    with capture_logs() as logs:
        first = supervise(
            "loop",
            forever,
            wanted=lambda task: wanted,
            restarted=lambda old, new: restarted.append(new),
            log=log,
            event="loop ended unexpectedly",
        )
        await asyncio.sleep(0)
        first.cancel()  # as a library's leaked cancellation would
        await asyncio.sleep(RESTART_PAUSE + 0.3)
    assert len(restarted) == 1 and not restarted[0].done()
    assert [(e["log_level"], e["event"]) for e in logs] == [("error", "loop ended unexpectedly")]
    wanted = False
    restarted[0].cancel()
    await asyncio.sleep(0)


def test_an_app_left_open_when_asyncio_run_ends_logs_one_hint_and_no_restarts() -> None:
    async def double(x: int) -> int:
        return 2 * x

    async def main() -> Any:
        oq = AsyncOmniQ(task_queue_url="memory://", workers=2)
        await oq.start()
        return await oq.get_result(await oq.enqueue(double, 21), timeout=10)

    with capture_logs() as logs:
        assert asyncio.run(main()) == 42
    levels = [entry["log_level"] for entry in logs]
    assert "error" not in levels and levels.count("warning") == 1


def double_it(x: int) -> int:
    return 2 * x


def test_the_sync_apps_event_writer_is_restarted_after_a_leaked_cancel() -> None:
    """The sync API's event loop runs with no main task: a producer-only app's event writer may
    be its only task, and must still be restarted."""
    from omniq import OmniQ

    with OmniQ(task_queue_url="memory://", workers=0) as oq:
        sink = oq.event_sink
        storage: Any = sink.storage
        append_many = storage.append_many
        leaks = [1]

        async def leaking_append_many(events: Any) -> None:
            if leaks:  # what a library's timeout that never takes its cancel back does
                leaks.pop()
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
                await asyncio.sleep(1)
            await append_many(events)

        storage.append_many = leaking_append_many
        task_id = oq.enqueue(double_it, 1)
        deadline = time.monotonic() + 10
        while len(sink) and time.monotonic() < deadline:  # written without a flush
            time.sleep(0.05)
        assert sink.writer_restarts == 1
        assert len(sink) == 0
        assert [e.task_id for e in oq.get_events(task_id)] == [task_id]
