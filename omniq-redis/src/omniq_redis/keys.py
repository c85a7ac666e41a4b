"""Key names. Every key of one queue shares the hash tag ``{prefix:queue}``, so the scripts that
touch a queue's sets and its tasks work on Redis Cluster; events and schedules have tags of
their own. User names are validated by the core (letters, digits, ``_``, ``-``), so they cannot
break out of a key."""

from __future__ import annotations

from attrs import frozen

__all__ = ["Keys", "QueueKeys"]


@frozen
class QueueKeys:
    tag: str

    @property
    def ready(self) -> str:
        return f"{self.tag}:ready"

    @property
    def delayed(self) -> str:
        return f"{self.tag}:delayed"

    @property
    def active(self) -> str:
        return f"{self.tag}:active"

    @property
    def dead(self) -> str:
        return f"{self.tag}:dead"

    @property
    def task_prefix(self) -> str:
        """Followed by a task id: that task's hash."""
        return f"{self.tag}:t:"


@frozen
class Keys:
    prefix: str

    def queue(self, name: str) -> QueueKeys:
        return QueueKeys(f"{{{self.prefix}:q:{name}}}")

    def wake_channel(self, queue: str) -> str:
        return f"{self.prefix}:wake:{queue}"

    @property
    def wake_pattern(self) -> str:
        return f"{self.prefix}:wake:*"

    @property
    def result_channel(self) -> str:
        return f"{self.prefix}:results"

    @property
    def queues(self) -> str:
        """The set of queue names that ever held a task."""
        return f"{self.prefix}:queues"

    def result(self, task_id: str) -> str:
        return f"{self.prefix}:r:{task_id}"

    @property
    def events_tag(self) -> str:
        return f"{{{self.prefix}:events}}"

    @property
    def events_by_time(self) -> str:
        return f"{self.events_tag}:by_time"

    @property
    def event_data(self) -> str:
        return f"{self.events_tag}:data"

    def events_of(self, task_id: str) -> str:
        return f"{self.events_tag}:task:{task_id}"

    @property
    def event_stream(self) -> str:
        """A capped stream that live followers read."""
        return f"{self.events_tag}:live"

    @property
    def schedules_tag(self) -> str:
        return f"{{{self.prefix}:schedules}}"

    def schedule(self, name: str) -> str:
        return f"{self.schedules_tag}:s:{name}"

    @property
    def schedule_names(self) -> str:
        return f"{self.schedules_tag}:names"

    @property
    def schedules_due(self) -> str:
        return f"{self.schedules_tag}:due"
