"""TaskThreads: plain calls on threads, outcomes handed back to the event loop in batches."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time

import pytest
from omniq.runtime.threads import TaskThreads

pytestmark = pytest.mark.timeout(30)


def live_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


async def wait_until(condition: object, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_values_and_exceptions_reach_the_awaiting_coroutine() -> None:
    pool = TaskThreads(4)
    try:
        values = await asyncio.gather(
            *(pool.submit(functools.partial(pow, i, 2)).future for i in range(500))
        )

        def fail() -> None:
            raise ValueError("from a thread")

        with pytest.raises(ValueError, match="from a thread"):
            await pool.submit(fail).future
    finally:
        pool.close()
    assert values == [i * i for i in range(500)]


async def test_calls_run_side_by_side_up_to_the_size_and_no_further() -> None:
    pool = TaskThreads(3, name="omniq-test-size")
    lock = threading.Lock()
    running = peak = 0
    release = threading.Event()

    def blocking() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(10)
        with lock:
            running -= 1

    try:
        calls = [pool.submit(blocking) for _ in range(7)]
        await wait_until(lambda: running == 3)
        await asyncio.sleep(0.1)  # a fourth thread would have started by now
        assert peak == 3
        release.set()
        await asyncio.gather(*(c.future for c in calls))
        assert len(live_threads("omniq-test-size")) == 3
    finally:
        pool.close()


async def test_an_abandoned_running_call_gives_its_place_to_a_fresh_thread() -> None:
    pool = TaskThreads(1, name="omniq-test-abandon")
    release = threading.Event()
    started = threading.Event()

    def stuck() -> str:
        started.set()
        release.wait(10)
        return "late"

    try:
        call = pool.submit(stuck)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await call.future
        pool.abandon(call)
        assert started.is_set()
        # the only thread is stuck, yet the next call runs at once on a replacement
        assert await asyncio.wait_for(pool.submit(lambda: "next").future, 5) == "next"
        assert len(live_threads("omniq-test-abandon")) == 2
        release.set()
        # the stuck thread ends with its call instead of serving more
        await wait_until(lambda: len(live_threads("omniq-test-abandon")) == 1)
        assert await pool.submit(lambda: "again").future == "again"
    finally:
        pool.close()


async def test_an_abandoned_queued_call_never_runs() -> None:
    pool = TaskThreads(1)
    release = threading.Event()
    ran: list[str] = []
    try:
        first = pool.submit(lambda: release.wait(10))
        skipped = pool.submit(lambda: ran.append("skipped"))
        skipped.future.cancel()
        pool.abandon(skipped)
        release.set()
        await first.future
        assert await pool.submit(lambda: ran.append("after")).future is None
    finally:
        pool.close()
    assert ran == ["after"]


async def test_calls_see_the_submitting_context() -> None:
    request = contextvars.ContextVar[str]("request")
    request.set("r-1")
    pool = TaskThreads(2)
    try:
        assert await pool.submit(request.get).future == "r-1"
    finally:
        pool.close()


async def test_close_ends_the_threads_and_refuses_new_calls() -> None:
    pool = TaskThreads(4, name="omniq-test-close")
    await asyncio.gather(*(pool.submit(lambda: time.sleep(0.05)).future for _ in range(4)))
    assert len(live_threads("omniq-test-close")) == 4
    pool.close()
    await wait_until(lambda: not live_threads("omniq-test-close"))
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(lambda: None)


async def test_a_call_finishing_after_its_loop_closed_raises_nothing() -> None:
    pool = TaskThreads(1, name="omniq-test-orphan")
    release = threading.Event()
    errors: list[BaseException | None] = []
    hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:

        async def submit_and_leave() -> None:
            pool.submit(lambda: release.wait(10))

        await asyncio.to_thread(asyncio.run, submit_and_leave())  # that loop closes at once
        release.set()
        pool.close()
        await wait_until(lambda: not live_threads("omniq-test-orphan"))
    finally:
        threading.excepthook = hook
    assert errors == []


async def test_calls_queued_beyond_the_size_still_run_after_an_abandon() -> None:
    pool = TaskThreads(1, name="omniq-test-queued")
    release = threading.Event()
    try:
        first = pool.submit(lambda: "first")
        stuck = pool.submit(lambda: release.wait(10))  # queued: the only thread is busy
        assert await first.future == "first"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await stuck.future
        pool.abandon(stuck)  # running: its thread leaves the pool
        after = pool.submit(lambda: "after")
        assert await asyncio.wait_for(after.future, 5) == "after"
    finally:
        release.set()
        pool.close()


async def test_stop_iteration_fails_its_call_and_strands_no_other() -> None:
    pool = TaskThreads(4)
    gate = threading.Barrier(3)

    def stop() -> None:
        gate.wait(5)
        raise StopIteration("nothing matched")

    def value(n: int) -> int:
        gate.wait(5)
        return n

    try:  # the three finish together, so their outcomes go back in one batch
        calls = [pool.submit(stop), pool.submit(functools.partial(value, 1))]
        calls.append(pool.submit(functools.partial(value, 2)))
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(c.future for c in calls), return_exceptions=True), 5
        )
    finally:
        pool.close()
    assert isinstance(outcomes[0], RuntimeError) and "StopIteration" in str(outcomes[0])
    assert outcomes[1:] == [1, 2]


def test_a_pool_outliving_its_event_loop_serves_the_next_one() -> None:
    pool = TaskThreads(2)
    release = threading.Event()

    async def leave_a_call_running() -> None:
        pool.submit(lambda: release.wait(10))

    async def call_again() -> str:
        return await asyncio.wait_for(pool.submit(lambda: "served").future, 5)

    try:
        asyncio.run(leave_a_call_running())
        release.set()  # it finishes with nobody's loop to wake
        time.sleep(0.2)
        assert asyncio.run(call_again()) == "served"
    finally:
        pool.close()


async def test_a_call_queued_behind_an_abandoned_one_runs_at_once() -> None:
    pool = TaskThreads(1)
    release = threading.Event()
    try:
        stuck = pool.submit(lambda: release.wait(10))
        behind = pool.submit(lambda: "behind")  # queued: the only thread is busy
        await asyncio.sleep(0.05)
        pool.abandon(stuck)  # a fresh thread takes its place, and the queued call
        assert await asyncio.wait_for(behind.future, 5) == "behind"
        assert not release.is_set()
    finally:
        release.set()
        pool.close()


async def test_returned_resolves_when_a_call_whose_future_was_cancelled_ends() -> None:
    pool = TaskThreads(1, name="omniq-test-returned")
    release = threading.Event()
    try:
        call = pool.submit(functools.partial(release.wait, 10))
        await wait_until(lambda: len(live_threads("omniq-test-returned")) == 1)
        call.future.cancel()  # as a cancelled worker job does to the future it awaits
        returned = pool.returned(call)
        await asyncio.sleep(0.05)
        assert not returned.done(), "resolved while the call still runs"
        release.set()
        await asyncio.wait_for(returned, 5)
        # a call that already ended resolves at once, as does asking twice
        assert pool.returned(call).done()
        done = pool.submit(functools.partial(pow, 2, 3))
        assert await done.future == 8
        assert pool.returned(done).done()
    finally:
        release.set()
        pool.close()
