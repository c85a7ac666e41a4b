"""Validation of the names users choose: queue names, task ids and schedule names.

Names are checked once, in the core, before any backend turns them into SQL, Redis keys, NATS
subjects or file paths. The allowed alphabet is the intersection of what all of those accept
without quoting: ASCII letters, digits, ``_`` and ``-``, starting with a letter or digit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from omniq._validate import count
from omniq.errors import InvalidNameError

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "validate_name",
    "validate_priority",
    "validate_queue_name",
    "validate_queue_names",
    "validate_schedule_name",
    "validate_task_id",
]

MAX_NAME_LENGTH = 128
MIN_PRIORITY = -100
MAX_PRIORITY = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _validate(kind: str, value: object) -> str:
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise InvalidNameError(
            f"Invalid {kind} {value!r}: use 1-{MAX_NAME_LENGTH} characters of ASCII letters, "
            "digits, '_' and '-', starting with a letter or digit"
        )
    return value


def validate_name(value: object, kind: str) -> str:
    """Validate another user-chosen name (a namespace, a key prefix) by the same rules;
    ``kind`` names it in the error."""
    return _validate(kind, value)


def validate_queue_name(name: object) -> str:
    """Return ``name`` if it is a valid queue name, else raise :class:`InvalidNameError`."""
    return _validate("queue name", name)


def validate_queue_names(names: Iterable[object]) -> tuple[str, ...]:
    """Validate several queue names; at least one is required and none may repeat."""
    validated = tuple(validate_queue_name(name) for name in names)
    if not validated:
        raise InvalidNameError("At least one queue name is required")
    if len(set(validated)) != len(validated):
        raise InvalidNameError(f"Queue names repeat in {list(validated)!r}: name each queue once")
    return validated


def validate_task_id(task_id: object) -> str:
    """Return ``task_id`` if it is a valid task id, else raise :class:`InvalidNameError`."""
    return _validate("task id", task_id)


def validate_schedule_name(name: object) -> str:
    """Return ``name`` if it is a valid schedule name, else raise :class:`InvalidNameError`."""
    return _validate("schedule name", name)


def validate_priority(priority: object) -> int:
    """Return ``priority`` if it is an int in [MIN_PRIORITY, MAX_PRIORITY] (higher runs first)."""
    return count(
        "priority",
        priority,
        minimum=MIN_PRIORITY,
        maximum=MAX_PRIORITY,
        hint=" (higher runs first)",
    )
