"""The worker's one log line per task: received, then succeeded (in N ms), cancelled, retried or
dead-lettered.

Cheap when nobody reads them: whether INFO lines are written is decided once, when the worker
starts (:attr:`TaskLines.info`), and the worker calls :meth:`TaskLines.received` and the INFO
outcomes only then, so at WARNING a task costs one attribute check and no formatting. Retries
(WARNING) and dead letters (ERROR) are always handed to the logger.
"""

from __future__ import annotations

import logging
from datetime import datetime

from attrs import frozen
from structlog.typing import FilteringBoundLogger

from omniq.models.completion import Completion, CompletionAction
from omniq.models.result import TaskError
from omniq.models.task import ClaimedTask

__all__ = ["TaskLines"]


@frozen
class TaskLines:
    """Writes the per-task lines of one worker to ``log`` (its bound logger)."""

    log: FilteringBoundLogger
    info: bool
    """Whether INFO lines are written: callers check it before calling an INFO method."""

    @classmethod
    def of(cls, log: FilteringBoundLogger) -> TaskLines:
        return cls(log, log.is_enabled_for(logging.INFO))

    def received(self, claimed: ClaimedTask) -> None:
        task = claimed.task
        self.log.info(
            "task received",
            task_id=task.id,
            func=task.func,
            queue=task.queue,
            attempt=claimed.lease.attempt,
        )

    def finished(
        self,
        kind: str,
        claimed: ClaimedTask,
        completion: Completion,
        *,
        duration: float,
        error: TaskError | None,
    ) -> None:
        """The line for an outcome that was stored (``kind``: the worker's outcome kind)."""
        task = claimed.task
        common = {"task_id": task.id, "func": task.func, "queue": task.queue}
        action = completion.action
        if action is CompletionAction.ACK:
            if kind == "cancelled":
                self.log.info("task cancelled", **common)
            else:
                self.log.info("task succeeded", duration_ms=_ms(duration), **common)
            return
        problem = f"{error.type}: {error.message}" if error is not None else "failed"
        attempt = claimed.lease.attempt
        if action is CompletionAction.RETRY:
            self.log.warning(
                "task failed, will retry",
                error=problem,
                attempt=attempt,
                max_attempts=task.max_attempts,
                retry_at=_iso(completion.retry_at),
                duration_ms=_ms(duration),
                **common,
            )
            return
        self.log.error(
            "task refused, dead-lettered" if kind == "refused" else "task failed, dead-lettered",
            error=problem,
            attempt=attempt,
            duration_ms=_ms(duration),
            **common,
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment is not None else None
