"""Completions pipelined on one connection, for a task queue whose app keeps its results and
events on the same NATS backend (:class:`~omniq.storage.AtomicCompletion`).

NATS has no transaction over a result, an event and a record, so this is the step-by-step path
of :class:`~omniq.runtime.completion.Finisher` with fewer round trips, fenced the same way:

1. a lease this process does not hold, or with no more than half its term left, is checked by
   extending it (a compare-and-set on the record): a lost lease drops its completion, nothing of
   it written. A lease held here with more of its term left cannot have been taken over (nobody
   recovers a lease before it expires);
2. the results and the terminal events of the batch are published together, every reply then
   awaited (one round trip): a result refused because a newer delivery's is stored drops its
   completion from the queue change (its events are written: that takes a stored result of a
   newer delivery under a current lease, which only a result left by an earlier run of the same
   task id can be);
3. the queue change (ack, dead letter, retry) is made only once step 2 was acknowledged: the
   record's compare-and-set first, then the ticket's ack. So a task is never finished before
   its result and terminal event are stored, and a crash anywhere before leaves it to run
   again. A retry's events follow its accepted ``nack``.

Whatever step 2 stores is safe to store again: a batch retried after a store error stores its
results again (the delivery compare lets the same delivery replace its own) and its events
once (the event stream drops a repeated ``Nats-Msg-Id`` within its duplicate window)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from omniq.models.completion import Completion, CompletionAction
from omniq.models.result import TaskResult

from omniq_nats.connection import unavailable_as_storage_error
from omniq_nats.events import NATSEventStorage
from omniq_nats.publisher import Message
from omniq_nats.results import NATSResultStorage

if TYPE_CHECKING:
    from omniq_nats.task_queue import NATSTaskQueue

__all__ = ["complete"]


async def complete(
    queue: NATSTaskQueue,
    results: NATSResultStorage,
    events: NATSEventStorage,
    completions: Sequence[Completion],
) -> list[bool]:
    """Apply ``completions`` (see the module's docstring); whether each was applied."""
    applied: list[bool | None] = [None] * len(completions)
    await _fence(queue, completions, applied)
    standing = [i for i, ok in enumerate(applied) if ok is None]
    with_result = [i for i in standing if completions[i].result is not None]
    written = [i for i in standing if completions[i].action is not CompletionAction.RETRY]
    stored: list[TaskResult] = [completions[i].result for i in with_result]  # type: ignore[misc]
    event_messages: list[Message] = events.messages(
        [e for i in written for e in completions[i].events]
    )
    encoded, messages = results.creates(stored)  # from here on, settled or abandoned
    try:
        async with unavailable_as_storage_error(queue.conn.where):
            outcomes = await queue.conn.publish_many(messages + event_messages)
    except BaseException:
        results.abandon(stored)
        raise
    kept = await results.settle(stored, encoded, outcomes[: len(messages)])
    events.settle(outcomes[len(messages) :])
    for i, ok in zip(with_result, kept, strict=True):
        if not ok:
            applied[i] = False  # a newer delivery's result is stored
    acks = [i for i in standing if applied[i] is None and completions[i].action is _ACK]
    if acks:
        acked = await queue.ack([completions[i].lease for i in acks])
        for i, ok in zip(acks, acked, strict=True):
            applied[i] = ok
    for i in standing:
        completion = completions[i]
        if applied[i] is not None:
            continue
        if completion.action is CompletionAction.DEAD_LETTER:
            reason = completion.reason or "failed"
            applied[i] = await queue.dead_letter(completion.lease, reason=reason)
        elif completion.action is CompletionAction.RETRY:
            assert completion.retry_at is not None
            applied[i] = await queue.nack(
                completion.lease, retry_at=completion.retry_at, error=completion.error
            )
            if applied[i] and completion.events:
                await events.append_many(completion.events)
    return [bool(ok) for ok in applied]


_ACK = CompletionAction.ACK


async def _fence(
    queue: NATSTaskQueue, completions: Sequence[Completion], applied: list[bool | None]
) -> None:
    """Check by extending them the leases that could have been taken over (step 1)."""
    now = time.time()
    unchecked: list[int] = []
    terms: list[float] = []
    for i, completion in enumerate(completions):
        term = queue.lease_term(completion.lease.token)
        held = queue.held_expiry(completion.lease.token)
        if term is None or held is None or held - now <= term / 2:
            unchecked.append(i)
            terms.append(term or queue.conn.options.ack_wait)
    if not unchecked:
        return
    renewed = await queue.extend([completions[i].lease for i in unchecked], max(terms))
    for i, lease in zip(unchecked, renewed, strict=True):
        if lease is None:
            applied[i] = False
