"""``/metrics`` in the Prometheus text format, from the stores (any backend).

* ``omniq_queue_tasks{queue,state}`` (gauge): ready, delayed, active and dead tasks per queue,
  read from ``stats`` at each scrape;
* ``omniq_workers{state}`` (gauge): workers of the registry by state (running, stopped, lost);
* ``omniq_tasks_completed_total``, ``omniq_tasks_failed_total``, ``omniq_tasks_retried_total``,
  ``omniq_tasks_dead_lettered_total`` ``{func,queue}`` (counters) and
  ``omniq_task_duration_seconds{func}`` (histogram): counted by following the event log from the
  dashboard's start (:class:`EventCounter`), so they start at 0 with the dashboard, as
  Prometheus counters may; ``rate()`` is what they are for.

Workers write the function of a task into its events' ``details["func"]``. Events stored more
than :data:`LAG` seconds after they were made are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from omniq._time import utcnow
from omniq.logging import get_logger
from omniq.models.event import EventQuery, EventType, TaskEvent
from omniq.models.task import QueueStats
from omniq.runtime.presence import WorkerRecord
from omniq.storage import EventStorage

__all__ = ["LAG", "EventCounter", "Metrics"]

log = get_logger(__name__)

LAG = 10.0
"""Seconds back each poll of the event log looks, for events stored late (a worker's batch)."""
POLL = 1.0
COUNTED = (EventType.COMPLETED, EventType.FAILED, EventType.RETRYING, EventType.DEAD_LETTERED)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class _Snapshot(Collector):
    """Gauges read at scrape time (set by :meth:`Metrics.render` just before)."""

    def __init__(self) -> None:
        self.queues: list[QueueStats] = []
        self.workers: list[WorkerRecord] = []

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "omniq_queue_tasks", "Tasks in a queue by state", labels=["queue", "state"]
        )
        for stats in self.queues:
            for state in ("ready", "delayed", "active", "dead"):
                depth.add_metric([stats.queue, state], getattr(stats, state))
        yield depth
        workers = GaugeMetricFamily(
            "omniq_workers", "Workers in the registry by state", labels=["state"]
        )
        for state in ("running", "stopped", "lost"):
            workers.add_metric([state], sum(1 for w in self.workers if w.state == state))
        yield workers


class Metrics:
    """One dashboard's Prometheus registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._snapshot = _Snapshot()
        self.registry.register(self._snapshot)
        labels = ["func", "queue"]
        self.completed = Counter(
            "omniq_tasks_completed", "Tasks that succeeded", labels, registry=self.registry
        )
        self.failed = Counter(
            "omniq_tasks_failed", "Attempts that raised or timed out", labels,
            registry=self.registry,
        )
        self.retried = Counter(
            "omniq_tasks_retried", "Attempts followed by a retry", labels, registry=self.registry
        )
        self.dead = Counter(
            "omniq_tasks_dead_lettered", "Tasks moved to the dead letters", labels,
            registry=self.registry,
        )
        self.duration = Histogram(
            "omniq_task_duration_seconds",
            "Run time of finished attempts",
            ["func"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )

    def count(self, event: TaskEvent) -> None:
        func = str(event.details.get("func", "unknown"))
        labels = (func, event.queue or "")
        kind = event.event_type
        if kind is EventType.COMPLETED:
            self.completed.labels(*labels).inc()
        elif kind is EventType.FAILED:
            self.failed.labels(*labels).inc()
        elif kind is EventType.RETRYING:
            self.retried.labels(*labels).inc()
        elif kind is EventType.DEAD_LETTERED:
            self.dead.labels(*labels).inc()
        duration = event.details.get("duration")
        if kind in (EventType.COMPLETED, EventType.FAILED) and isinstance(duration, int | float):
            self.duration.labels(func).observe(float(duration))

    def render(self, queues: list[QueueStats], workers: list[WorkerRecord]) -> bytes:
        self._snapshot.queues = queues
        self._snapshot.workers = workers
        return generate_latest(self.registry)


class EventCounter:
    """Follows the event log (a bounded query by type and time each second) into
    :class:`Metrics`, each event once."""

    def __init__(self, events: EventStorage, metrics: Metrics, *, poll: float = POLL) -> None:
        self.events = events
        self.metrics = metrics
        self.poll = poll
        self._watermark = utcnow()
        self._seen: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="omniq-dashboard-metrics")

    async def stop(self) -> None:
        """Stop between polls (a read under way is let finish, for at most 5 s: a client
        cancelled mid-command may be left unusable for the app's own close)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 5.0)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.step()
            except Exception as exc:  # a store away for a while: count on when it is back
                log.warning("could not read events for metrics", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll)

    async def step(self) -> int:
        """Count the events stored since the last step; returns how many were new."""
        new = 0
        since = self._watermark - timedelta(seconds=LAG)
        while True:
            batch = await self.events.query(
                EventQuery(event_types=COUNTED, since=since, limit=5000)
            )
            for event in batch:
                if event.id in self._seen:
                    continue
                self._seen[event.id] = event.timestamp
                self.metrics.count(event)
                new += 1
                self._watermark = max(self._watermark, event.timestamp)
            if len(batch) < 5000 or batch[-1].timestamp == since:
                break
            since = batch[-1].timestamp
        horizon = self._watermark - timedelta(seconds=2 * LAG)
        self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
        return new
