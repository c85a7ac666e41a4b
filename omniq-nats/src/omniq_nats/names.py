"""Stream, bucket and subject names, all under the backend's ``prefix``.

Queue names, task ids and schedule names are validated by the core (letters, digits, ``_`` and
``-``) before they reach a subject or key, so none can contain ``.``, ``*``, ``>`` or spaces."""

from __future__ import annotations

from attrs import frozen
from omniq import names

__all__ = ["Names", "level_token"]


def level_token(priority: int) -> str:
    """A priority as a subject token that sorts like the number: -100 -> ``p000``, 100 ->
    ``p200``."""
    names.validate_priority(priority)
    return f"p{priority - names.MIN_PRIORITY:03d}"


@frozen
class Names:
    prefix: str

    @property
    def task_stream(self) -> str:
        return f"{self.prefix}_TASKS"

    @property
    def task_subject_root(self) -> str:
        return f"{self.prefix}.tasks"

    def task_subject(self, queue: str, priority: int) -> str:
        return f"{self.prefix}.tasks.{queue}.{level_token(priority)}"

    def consumer(self, queue: str, priority: int) -> str:
        return f"{queue}_{level_token(priority)}"

    @property
    def state_bucket(self) -> str:
        return f"{self.prefix}_tasks"

    @property
    def result_bucket(self) -> str:
        return f"{self.prefix}_results"

    @property
    def schedule_bucket(self) -> str:
        return f"{self.prefix}_schedules"

    @property
    def event_stream(self) -> str:
        return f"{self.prefix}_EVENTS"

    def event_subject(self, queue: str | None, task_id: str) -> str:
        return f"{self.prefix}.events.{queue or '_'}.{task_id}"

    def event_filter(self, queue: str | None, task_id: str | None) -> str:
        return f"{self.prefix}.events.{queue or '*'}.{task_id or '*'}"

    @property
    def dead_stream(self) -> str:
        return f"{self.prefix}_DEAD"

    def dead_subject(self, queue: str) -> str:
        return f"{self.prefix}.dead.{queue}"
