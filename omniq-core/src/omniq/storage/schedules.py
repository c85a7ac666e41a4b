"""The schedule storage contract.

Firing a schedule's tick exactly once across many schedulers rests on :meth:`claim_tick`: it
records, atomically, that ``(name, tick)`` fired, by moving ``next_fire_at`` from ``tick`` to the
following tick (a compare-and-set on the stored value, or a unique row per tick). Of several
schedulers claiming the same tick, exactly one gets ``True``. No lock that can expire is involved.
"""

from __future__ import annotations

import builtins
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from omniq.models.schedule import Schedule
from omniq.models.task import Task
from omniq.storage.base import Storage

if TYPE_CHECKING:
    from omniq.storage.task_queue import TaskQueueStorage

__all__ = ["ScheduleStorage", "TickEnqueue", "TickTakeover"]


class ScheduleStorage(Storage):
    """Cron, interval and one-shot schedules."""

    @abstractmethod
    async def add(self, schedule: Schedule) -> None:
        """Create ``schedule``, or replace the one with the same name."""

    @abstractmethod
    async def get(self, name: str) -> Schedule | None:
        """The schedule called ``name``, or ``None``."""

    @abstractmethod
    async def remove(self, name: str) -> bool:
        """Delete a schedule; ``True`` if it existed."""

    @abstractmethod
    async def set_paused(self, name: str, paused: bool) -> bool:
        """Pause or resume a schedule; ``True`` if it exists."""

    @abstractmethod
    async def list(self) -> list[Schedule]:
        """Every schedule, sorted by name."""

    @abstractmethod
    async def due(self, now: datetime, *, limit: int = 100) -> builtins.list[Schedule]:
        """Unpaused schedules whose ``next_fire_at`` is at or before ``now``, earliest first."""

    @abstractmethod
    async def claim_tick(self, name: str, tick: datetime, next_fire_at: datetime | None) -> bool:
        """Record that ``tick`` of schedule ``name`` fired and move ``next_fire_at`` on.

        ``True`` for exactly one caller per ``(name, tick)``: only if the schedule exists, is not
        paused and its stored ``next_fire_at`` equals ``tick``. Sets ``last_fired_at = tick``.
        """


@runtime_checkable
class TickEnqueue(Protocol):
    """Optional: a schedule storage that enqueues a tick's tasks in the transaction that claims
    the tick, when the app's task queue lives in the same database. Then a scheduler that dies
    between claim and enqueue cannot lose the tick: both happen or neither.

    The scheduler asks :meth:`enqueues_into` about the app's task queue once per tick; if the
    answer is ``True`` it calls :meth:`claim_tick_with_tasks` instead of ``claim_tick`` then
    ``enqueue_many``.
    """

    def enqueues_into(self, queue: TaskQueueStorage) -> bool: ...

    async def claim_tick_with_tasks(
        self, name: str, tick: datetime, next_fire_at: datetime | None, tasks: Sequence[Task]
    ) -> bool:
        """``claim_tick``, and if won, enqueue ``tasks`` (ids already queued are skipped)."""
        ...


@runtime_checkable
class TickTakeover(Protocol):
    """Optional, for a :class:`TickEnqueue` storage that cannot claim and enqueue in one atomic
    step: its claim records the tick's tasks as unconfirmed, and the claimer removes that record
    once it has enqueued them. A claimer that dies in between leaves the record behind.

    Each scheduler round calls :meth:`take_over_ticks` (when :meth:`TickEnqueue.enqueues_into`
    is ``True``) and writes an ``enqueued`` event for each task it returns, as it does for the
    ticks it fires itself.
    """

    async def take_over_ticks(self) -> builtins.list[Task]:
        """Enqueue the tasks of unconfirmed ticks old enough that their claimer must be gone,
        remove their records, and return those tasks. Of several schedulers taking over the
        same tick, one returns its tasks (a compare-and-set on the record); a ``TickEnqueue``
        claim that another scheduler took over returns ``False`` to its claimer, so each tick's
        ``enqueued`` events are written by one scheduler."""
        ...
