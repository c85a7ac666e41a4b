"""OmniQ's exceptions.

Every error OmniQ raises derives from :class:`OmniQError`. Where Python has a natural base class
the error also derives from it, so callers can catch the builtin: configuration and input errors
are ``ValueError``; a backend that is not installed or fails to import is an ``ImportError``; an
unknown backend name is a ``LookupError`` (and a ``ValueError``, as earlier OmniQ releases raised
``ValueError: Unsupported task queue backend: ...``).
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "FunctionNotAllowedError",
    "InvalidNameError",
    "LeaseLostError",
    "OmniQError",
    "PayloadTooLargeError",
    "SerializationError",
    "StorageClosedError",
    "StorageError",
    "TaskFailedError",
    "TaskNotFoundError",
    "ValidationError",
]


class OmniQError(Exception):
    """Base class of every OmniQ error."""


class ValidationError(OmniQError, ValueError):
    """A value given to OmniQ is not acceptable; the message names it and what is allowed."""


class InvalidNameError(ValidationError):
    """A queue name, task id or schedule name is not acceptable."""


class PayloadTooLargeError(ValidationError):
    """A task's serialized arguments exceed the configured size limit."""


class SerializationError(ValidationError):
    """A value cannot be serialized or deserialized with the chosen serializer."""


class ConfigurationError(ValidationError):
    """The configuration is invalid: the message names the field, the value and what is allowed."""


class StorageError(OmniQError):
    """A storage backend failed; the cause is chained and credentials are masked."""


class StorageClosedError(StorageError):
    """A storage was used after it was closed."""


class TaskNotFoundError(OmniQError, LookupError):
    """No task with the given id is known to the store."""


class LeaseLostError(OmniQError):
    """A lease token no longer matches: the lease expired and the task may belong to another worker."""


class FunctionNotAllowedError(OmniQError, LookupError):
    """A worker may not or cannot run the function a task names: it is not registered in the
    process, its module is not in ``allowed_modules``, or it is process-local to another process.
    The message says which function and how to allow it."""


class TaskFailedError(OmniQError):
    """A task failed for good; carries the remote exception's type, message and traceback text."""

    def __init__(
        self,
        task_id: str,
        error_type: str,
        error_message: str,
        traceback: str = "",
        *,
        status: str = "failure",
    ) -> None:
        self.task_id = task_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
        self.status = status
        super().__init__(f"Task {task_id} {_failed_verb(status)}: {error_type}: {error_message}")

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_task_failed,
            (self.task_id, self.error_type, self.error_message, self.traceback, self.status),
        )


def _failed_verb(status: str) -> str:
    return "was cancelled" if status == "cancelled" else "failed"


def _rebuild_task_failed(
    task_id: str, error_type: str, error_message: str, traceback: str, status: str
) -> TaskFailedError:
    return TaskFailedError(task_id, error_type, error_message, traceback, status=status)
