"""Turning ``enqueue(func, *args, **options_and_kwargs)`` into :class:`~omniq.models.Task` records.

This is the producer's hot path, so validation happens once per distinct value (queue names are
cached) and records are built without re-running attrs validators on values already checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
from attrs import frozen

from omniq import _validate as check
from omniq import names
from omniq._time import as_utc, utcnow
from omniq.errors import PayloadTooLargeError, ValidationError
from omniq.ids import new_id
from omniq.models.event import EventType, TaskEvent
from omniq.models.task import DEFAULT_QUEUE, Task
from omniq.models.unchecked import unchecked_event, unchecked_task
from omniq.runtime.codec import encode_call

__all__ = [
    "DEFAULT_MAX_PAYLOAD_SIZE",
    "OPTION_NAMES",
    "TaskBuilder",
    "TaskOptions",
    "split_options",
]

DEFAULT_MAX_PAYLOAD_SIZE = 1024 * 1024

OPTION_NAMES = frozenset(
    {
        "queue",
        "priority",
        "delay",
        "eta",
        "max_retries",
        "retry_backoff",
        "timeout",
        "result_ttl",
        "task_id",
        "kwargs",
    }
)
"""Keyword arguments of ``enqueue`` that are options, not arguments of the task function. Pass
a function argument with one of these names inside ``kwargs={...}``."""


def _check_number(name: str, value: object, *, positive: bool = False) -> float:
    return check.seconds(name, value, above=positive)


def _check_optional_seconds(name: str, value: object, *, positive: bool = False) -> float | None:
    if value is None:
        return None
    return check.seconds(name, value, above=positive)


def _check_retries(value: object) -> int:
    return check.count("max_retries", value, maximum=check.MAX_RETRIES)


def _queue_validator(_: object, __: object, value: object) -> None:
    names.validate_queue_name(value)


def _priority_validator(_: object, __: object, value: object) -> None:
    names.validate_priority(value)


def _retries_validator(_: object, __: object, value: object) -> None:
    _check_retries(value)


def _backoff(value: object) -> float:
    return _check_number("retry_backoff", value)


def _timeout(value: object) -> float | None:
    return _check_optional_seconds("timeout", value, positive=True)


def _ttl(value: object) -> float | None:
    return _check_optional_seconds("result_ttl", value)


@frozen(kw_only=True)
class TaskOptions:
    """Defaults for the tasks of an app or of one task function."""

    queue: str = attrs.field(default=DEFAULT_QUEUE, validator=_queue_validator)
    priority: int = attrs.field(default=0, validator=_priority_validator)
    max_retries: int = attrs.field(default=0, validator=_retries_validator)
    retry_backoff: float = attrs.field(default=1.0, converter=_backoff)
    timeout: float | None = attrs.field(default=None, converter=_timeout)
    result_ttl: float | None = attrs.field(default=None, converter=_ttl)

    def merged(self, **changes: Any) -> TaskOptions:
        """These options with ``changes`` (``None`` values of queue/priority/... are ignored)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return attrs.evolve(self, **given) if given else self


def split_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``enqueue``'s keyword arguments into ``(options, function kwargs)``.

    ``kwargs`` is consumed. Function arguments named like an option go in ``kwargs={...}``.
    """
    if kwargs.keys().isdisjoint(OPTION_NAMES):
        return {}, kwargs
    options = {name: kwargs.pop(name) for name in OPTION_NAMES.intersection(kwargs)}
    explicit = options.pop("kwargs", None)
    if explicit is not None:
        if not isinstance(explicit, Mapping):
            raise ValidationError(
                f"Invalid kwargs {explicit!r}: pass a dict of the task function's keyword arguments"
            )
        clash = kwargs.keys() & explicit.keys()
        if clash:
            raise ValidationError(
                f"Keyword argument(s) {sorted(clash)} given both directly and in kwargs={{...}}"
            )
        kwargs.update(explicit)
    return options, kwargs


def enqueued_event(task: Task, details: dict[str, Any] | None = None) -> TaskEvent:
    """The ``enqueued`` event of a task just built (its id reuses the task's sortable id when
    the runtime made it)."""
    return unchecked_event(
        EventType.ENQUEUED,
        task.id,
        queue=task.queue,
        timestamp=task.enqueued_at,
        id=task.id if len(task.id) == 26 else new_id(),
        details=details,
    )


class TaskBuilder:
    """Builds tasks for one app: its serializer, payload limit and default result TTL."""

    def __init__(
        self,
        *,
        serializer: str = "json",
        max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE,
        default_result_ttl: float | None = None,
    ) -> None:
        self.serializer = serializer
        self.max_payload_size = max_payload_size
        self.default_result_ttl = default_result_ttl
        self._queues: set[str] = set()

    def queue_name(self, queue: object) -> str:
        """``queue`` validated (cached)."""
        if isinstance(queue, str) and queue in self._queues:
            return queue
        name = names.validate_queue_name(queue)
        self._queues.add(name)
        return name

    def build(
        self,
        path: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: Mapping[str, Any],
        defaults: TaskOptions,
    ) -> Task:
        """A task calling ``path(*args, **kwargs)`` with ``options`` over ``defaults``."""
        payload = encode_call(self.serializer, args, kwargs)
        if len(payload) > self.max_payload_size:
            raise PayloadTooLargeError(
                f"Task payload of {path.rsplit(':', 1)[-1]} is {len(payload)} bytes, over the "
                f"limit of {self.max_payload_size} bytes (max_payload_size). Pass a reference "
                "(a file path, a URL, a database id) instead of the data."
            )
        now = utcnow()
        if not options:
            # Every value is a validated default: skip attrs' validators.
            return unchecked_task(
                func=path,
                payload=payload,
                serializer=self.serializer,
                id=new_id(),
                queue=defaults.queue,
                priority=defaults.priority,
                enqueued_at=now,
                eta=now,
                max_retries=defaults.max_retries,
                retry_backoff=defaults.retry_backoff,
                timeout=defaults.timeout,
                result_ttl=(
                    defaults.result_ttl
                    if defaults.result_ttl is not None
                    else self.default_result_ttl
                ),
                headers={},
            )
        get = options.get
        queue = get("queue")
        queue = defaults.queue if queue is None else self.queue_name(queue)
        priority = get("priority")
        priority = defaults.priority if priority is None else names.validate_priority(priority)
        task_id = get("task_id")
        task_id = new_id() if task_id is None else names.validate_task_id(task_id)
        max_retries = get("max_retries")
        max_retries = defaults.max_retries if max_retries is None else _check_retries(max_retries)
        backoff = get("retry_backoff")
        if backoff is None:
            backoff = defaults.retry_backoff
        else:
            backoff = _check_number("retry_backoff", backoff)
        timeout = (
            _check_optional_seconds("timeout", options["timeout"], positive=True)
            if "timeout" in options
            else defaults.timeout
        )
        result_ttl = (
            _check_optional_seconds("result_ttl", options["result_ttl"])
            if "result_ttl" in options
            else defaults.result_ttl
        )
        if result_ttl is None:
            result_ttl = self.default_result_ttl
        eta = self._eta(now, get("delay"), get("eta"))
        # Every value was validated above: skip attrs' validators.
        return unchecked_task(
            func=path,
            payload=payload,
            serializer=self.serializer,
            id=task_id,
            queue=queue,
            priority=priority,
            enqueued_at=now,
            eta=eta,
            max_retries=max_retries,
            retry_backoff=backoff,
            timeout=timeout,
            result_ttl=result_ttl,
            headers={},
        )

    @staticmethod
    def _eta(now: datetime, delay: object, eta: object) -> datetime:
        if delay is not None and eta is not None:
            raise ValidationError("Pass either delay or eta, not both")
        if delay is not None:
            seconds = _check_optional_seconds("delay", delay)
            return now if not seconds else now + timedelta(seconds=seconds)
        if eta is not None:
            if not isinstance(eta, datetime):
                raise ValidationError(
                    f"Invalid eta {eta!r}: use a datetime (naive datetimes are taken as UTC)"
                )
            return as_utc(eta)
        return now
