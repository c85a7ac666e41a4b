"""An idle worker rests: polls back off to a capped pause, and a timed-out wait stays waitable."""

from __future__ import annotations

import asyncio
import itertools
import time

from omniq.storage.polling import IDLE_POLL_MAX, poll_intervals
from omniq.storage.wakeup import Waiters


def test_pauses_double_from_the_first_up_to_the_cap() -> None:
    pauses = list(itertools.islice(poll_intervals(0.002), 9))
    assert pauses[:4] == [0.002, 0.004, 0.008, 0.016]
    assert pauses[-1] == IDLE_POLL_MAX == 0.1
    assert max(pauses) == 0.1
    assert list(itertools.islice(poll_intervals(0.5), 2)) == [0.5, 0.5]  # a slower first wins


async def test_a_wait_that_times_out_leaves_the_future_pending() -> None:
    waiters: Waiters[str] = Waiters()
    future = waiters.register(["q"])
    await waiters.wait(future, 0.01)
    assert not future.done()  # the bug: a cancelled future made every later wait return at once
    started = time.monotonic()
    await waiters.wait(future, 0.05)
    assert time.monotonic() - started >= 0.045
    waiters.wake("q")
    await asyncio.sleep(0)
    assert future.done() and not future.cancelled()
