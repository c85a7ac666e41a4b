"""Finishing tasks under their leases: the fenced completion of the storage contract.

A completion (:class:`~omniq.models.Completion`) is applied only while its lease is the task's
current one. A task queue that shares a store with the app's results and events
(:class:`~omniq.storage.AtomicCompletion`) applies a batch in one atomic step. Otherwise the
:class:`Finisher` goes step by step, each step fenced:

1. the leases are checked by extending them: a lost lease drops its completion (the task has a
   new owner, who finishes it). A lease that by this worker's clock still has more than half
   its term to run cannot have been taken over (nobody recovers a lease before it expires), so
   it is not checked: a worker paused past its lease sees that its lease ran out, and checks;
   only a clock skew between this worker and the store of more than half a lease would let a
   stale completion skip the check, and the result compare below still refuses it once the
   newer delivery has stored its result;
2. the results are stored with the delivery compare of result storage: a refused result drops
   its completion (a newer delivery already finished);
3. the terminal events of the completions still standing are written;
4. the queue change: ack, dead letter, or retry (a retry's events follow its accepted ``nack``).

Each step that succeeded is remembered, so a batch retried after a store error repeats none of
them: a retried batch writes no second ``completed`` event.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

from omniq._time import utcnow
from omniq.models.completion import Completion, CompletionAction
from omniq.runtime.events_sink import EventSink
from omniq.storage import AtomicCompletion, ResultStorage, TaskQueueStorage

__all__ = ["Finisher", "PendingCompletion"]


@define(eq=False)
class PendingCompletion:
    """A completion and how far the :class:`Finisher` got with it."""

    completion: Completion
    fenced: bool = False
    stored: bool = False
    evented: bool = False
    applied: bool | None = None
    """``True`` once applied, ``False`` once refused (lease lost, newer result), else unknown."""


class Finisher:
    """Applies batches of completions to a worker's storages."""

    def __init__(
        self,
        queue: TaskQueueStorage,
        results: ResultStorage,
        events: EventSink,
        *,
        lease_seconds: float,
    ) -> None:
        self.queue = queue
        self.results = results
        self.events = events
        self.lease_seconds = lease_seconds
        self.unchecked_margin = lease_seconds / 2
        """A lease with more than this many seconds to run is not checked before its result."""
        self.atomic: AtomicCompletion | None = None
        if isinstance(queue, AtomicCompletion) and queue.completes_with(results, events.storage):
            self.atomic = queue

    async def finish(self, batch: Sequence[PendingCompletion]) -> None:
        """Apply every completion of ``batch`` not yet decided; raises on a store error, keeping
        what was done, so that calling it again with the same batch goes on from there."""
        todo = [p for p in batch if p.applied is None]
        if not todo:
            return
        if self.atomic is not None:
            applied = await self.atomic.complete([p.completion for p in todo])
            for pending, ok in zip(todo, applied, strict=True):
                pending.applied = ok
            return
        await self._fence(todo)
        await self._store_results(todo)
        await self._write_events(todo)
        await self._change_queue(todo)

    async def _fence(self, todo: Sequence[PendingCompletion]) -> None:
        now = utcnow()
        for pending in todo:
            remaining = (pending.completion.lease.expires_at - now).total_seconds()
            if remaining > self.unchecked_margin:
                pending.fenced = True
        unchecked = [p for p in todo if not p.fenced]
        if not unchecked:
            return
        leases = [p.completion.lease for p in unchecked]
        renewed = await self.queue.extend(leases, self.lease_seconds)
        for pending, lease in zip(unchecked, renewed, strict=True):
            if lease is None:
                pending.applied = False
            else:
                pending.fenced = True

    async def _store_results(self, todo: Sequence[PendingCompletion]) -> None:
        unstored = [
            p
            for p in todo
            if p.applied is None and not p.stored and p.completion.result is not None
        ]
        if not unstored:
            return
        stored = await self.results.store_many(
            [p.completion.result for p in unstored if p.completion.result is not None]
        )
        for pending, ok in zip(unstored, stored, strict=True):
            if ok:
                pending.stored = True
            else:
                pending.applied = False

    async def _write_events(self, todo: Sequence[PendingCompletion]) -> None:
        unwritten = [
            p
            for p in todo
            if p.applied is None
            and not p.evented
            and p.completion.action is not CompletionAction.RETRY
        ]
        events = [event for p in unwritten for event in p.completion.events]
        if events:
            await self.events.write_now(events)
        for pending in unwritten:
            pending.evented = True

    async def _change_queue(self, todo: Sequence[PendingCompletion]) -> None:
        standing = [p for p in todo if p.applied is None]
        acks = [p for p in standing if p.completion.action is CompletionAction.ACK]
        if acks:
            acked = await self.queue.ack([p.completion.lease for p in acks])
            for pending, ok in zip(acks, acked, strict=True):
                pending.applied = ok
        for pending in standing:
            completion = pending.completion
            if completion.action is CompletionAction.DEAD_LETTER:
                reason = completion.reason or "failed"
                pending.applied = await self.queue.dead_letter(completion.lease, reason=reason)
            elif completion.action is CompletionAction.RETRY:
                assert completion.retry_at is not None
                pending.applied = await self.queue.nack(
                    completion.lease, retry_at=completion.retry_at, error=completion.error
                )
                if pending.applied:
                    self.events.emit_many(completion.events)
