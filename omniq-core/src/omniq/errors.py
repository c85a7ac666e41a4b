"""OmniQ's exceptions.

Every error OmniQ raises derives from :class:`OmniQError`. Where Python has a natural base class
the error also derives from it, so callers can catch the builtin: configuration and input errors
are ``ValueError`` (a number out of its range is an :class:`InvalidValueError`, which names the
option, the value and the allowed range); a backend that is not installed or fails to import is
an ``ImportError``; an unknown backend name is a ``LookupError`` (and a ``ValueError``, as earlier
OmniQ releases raised ``ValueError: Unsupported task queue backend: ...``).

The plugin system's errors and what they can be caught as:

=============================  ======================================================
``BackendNotInstalledError``   ``ImportError`` and ``ValueError`` (a first-party backend
                               whose distribution is missing; names the ``pip install``)
``BackendImportError``         ``ImportError`` (installed, but importing it failed)
``BackendConflictError``       ``ImportError`` (two distributions register one name)
``BackendDisabledError``       ``ImportError`` (blocked by ``OMNIQ_DISABLE_PLUGINS``)
``InvalidBackendPluginError``  ``ImportError`` (the plugin breaks the plugin contract)
``UnknownBackendError``        ``LookupError`` and ``ValueError``
``MissingRoleError``           ``ValueError`` (via ``ConfigurationError``)
``BackendOptionError``         ``ValueError`` (via ``ConfigurationError``)
=============================  ======================================================

The first five share :class:`BackendUnavailableError`; all of them but the option error share
:class:`BackendError`, whose ``backend`` attribute is the backend's name. Each chains its cause,
and any password in a URL they mention is masked.
"""

from __future__ import annotations

import sys

from omniq import _provenance

# every OmniQ module imports this one: refuse to run under another project's omniq/__init__.py
_provenance.check_package(sys.modules["omniq"])

__all__ = [
    "BackendConflictError",
    "BackendDisabledError",
    "BackendError",
    "BackendImportError",
    "BackendNotInstalledError",
    "BackendOptionError",
    "BackendUnavailableError",
    "ConfigurationError",
    "FunctionNotAllowedError",
    "InvalidBackendPluginError",
    "InvalidNameError",
    "InvalidValueError",
    "LeaseLostError",
    "MissingRoleError",
    "OmniQError",
    "PayloadTooLargeError",
    "SerializationError",
    "SerializerNotAllowedError",
    "StorageClosedError",
    "StorageError",
    "StorageUnavailableError",
    "TaskFailedError",
    "TaskNotFoundError",
    "UnknownBackendError",
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


class SerializerNotAllowedError(SerializationError):
    """A record names a serializer this process's configuration does not allow; nothing was
    decoded. The serializer comes from the configuration, never from a record: the message names
    the serializer and the setting that allows it."""


class ConfigurationError(ValidationError):
    """The configuration is invalid: the message names the field, the value and what is allowed."""


class InvalidValueError(ConfigurationError):
    """A number (a duration, count, priority, port or delay) is not finite, not a number, or out
    of its range, in the configuration, a backend option or an argument. ``field`` names the
    option, ``value`` is what was given and ``allowed`` says what is accepted; the message says
    all three."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"Invalid {field} {_shown(value)}: use {allowed}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.value, self.allowed))


def _shown(value: object) -> str:
    from omniq._redact import mask_secrets

    text = mask_secrets(repr(value))
    return text if len(text) <= 80 else f"{text[:60]}...({len(text)} characters)"


class StorageError(OmniQError):
    """A storage backend failed; the cause is chained and credentials are masked."""


class StorageUnavailableError(StorageError):
    """The store cannot be used right now: the server is unreachable or the connection was lost,
    or the database stayed locked past the backend's ``timeout``. Retrying later may succeed; the
    message names the store (password masked) and the option or check that fixes it."""


class StorageClosedError(StorageError):
    """A storage was used after it was closed."""


class TaskNotFoundError(OmniQError, LookupError):
    """No task with the given id is known to the store."""


class LeaseLostError(OmniQError):
    """A lease token no longer matches: the lease expired and the task may now belong to
    another worker."""


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


# -- the plugin system ----------------------------------------------------------------------------


class BackendError(OmniQError):
    """An error about one backend; ``backend`` is its name (as the user wrote it, masked)."""

    def __init__(self, message: str, *, backend: str | None = None) -> None:
        super().__init__(message)
        self.backend = backend


class BackendUnavailableError(BackendError, ImportError):
    """A backend cannot be used: not installed, disabled, broken or registered twice."""


class BackendNotInstalledError(BackendUnavailableError, ValueError):
    """A first-party backend whose distribution is not installed; the message has the
    ``pip install`` line that fixes it."""


class BackendDisabledError(BackendUnavailableError):
    """The backend is installed but ``OMNIQ_DISABLE_PLUGINS`` blocks it."""


class BackendImportError(BackendUnavailableError):
    """The backend is installed but importing its plugin module (or calling its hooks) failed;
    the message names the distribution, its version and the underlying error."""


class BackendConflictError(BackendUnavailableError):
    """Two installed distributions register the same backend name; the message names both."""


class InvalidBackendPluginError(BackendUnavailableError):
    """A plugin loaded but breaks the plugin contract (for example its specs carry another name
    than its entry point)."""


class UnknownBackendError(BackendError, LookupError, ValueError):
    """No installed or first-party backend has this name (or handles this URL scheme)."""


class MissingRoleError(BackendError, ConfigurationError):
    """A backend was asked for a storage role it does not provide."""


class BackendOptionError(ConfigurationError):
    """An option given to a backend is unknown or has an invalid value."""
