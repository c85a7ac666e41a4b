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

    def task_subject(self, queue: str, priority: int, task_id: str) -> str:
        """A ticket's subject: one per task, so a task's ticket is found by its id."""
        return f"{self.prefix}.tasks.{queue}.{level_token(priority)}.{task_id}"

    def level_filter(self, queue: str, priority: int) -> str:
        """The tickets of one queue and priority level (one durable consumer's filter)."""
        return f"{self.prefix}.tasks.{queue}.{level_token(priority)}.*"

    def queue_filter(self, queue: str | None) -> str:
        return f"{self.prefix}.tasks.{queue or '*'}.>"

    def id_filter(self, task_id: str) -> str:
        """Every message of the task stream about ``task_id``: its ticket or dead letter."""
        return f"{self.prefix}.tasks.*.*.{task_id}"

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

    def dead_subject(self, queue: str, task_id: str) -> str:
        """A dead letter's copy in the task stream: no consumer reads it, and it keeps the id
        taken (an enqueue of a dead task's id is refused by the stream)."""
        return f"{self.prefix}.tasks.{queue}.dead.{task_id}"

    def kv_subject(self, key: str) -> str:
        return f"$KV.{self.state_bucket}.{key}"
