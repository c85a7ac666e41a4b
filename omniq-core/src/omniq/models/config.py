"""OmniQ's configuration records: :class:`OmniQConfig` and :class:`StorageBackendConfig`.

Build them in code, from the environment (:meth:`OmniQConfig.from_env`), from YAML
(:meth:`OmniQConfig.from_yaml`) or from a dict (:meth:`OmniQConfig.from_dict`). Every field is
validated on construction; an unknown key or a bad value raises
:class:`~omniq.errors.ConfigurationError` (a ``ValueError``) naming the field, the value and what
is allowed. Which backend each storage role finally uses is decided by
:func:`omniq.configuration.resolve_storage_configs`. See ``docs/configuration.md``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from attrs import field, frozen

from omniq import _validate as check
from omniq.configuration._support import FieldError, did_you_mean, mask_secrets, mask_url
from omniq.errors import ConfigurationError, InvalidNameError

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_MAX_PAYLOAD_SIZE",
    "DEFAULT_RESULT_TTL",
    "DEFAULT_SHUTDOWN_GRACE",
    "DEFAULT_WORKERS",
    "LOG_LEVELS",
    "MAX_PAYLOAD_SIZE",
    "ROLE_FIELDS",
    "SCHEME_BACKENDS",
    "WORKER_TYPES",
    "OmniQConfig",
    "StorageBackendConfig",
]

DEFAULT_MAX_PAYLOAD_SIZE = 1024 * 1024
MAX_PAYLOAD_SIZE = 512 * 1024 * 1024
"""The largest ``max_payload_size``: 512 MiB, Redis's limit for one value."""
DEFAULT_RESULT_TTL = 86_400.0
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_SHUTDOWN_GRACE = 30.0
DEFAULT_WORKERS = 10
WORKER_TYPES = ("async", "thread_pool", "process_pool")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

ROLE_FIELDS = (
    "task_queue_backend",
    "result_storage_backend",
    "event_storage_backend",
    "schedule_storage_backend",
)
"""The four per-role fields, in the order of :class:`omniq.storage.Role`."""

BACKEND_ALIASES: Mapping[str, str] = {"postgresql": "postgres"}
"""Older spellings of backend names, mapped to the name the backend registers."""

SCHEME_BACKENDS: Mapping[str, str] = {
    "sqlite": "sqlite",
    "memory": "memory",
    "file": "file",
    "redis": "redis",
    "rediss": "redis",
    "postgres": "postgres",
    "postgresql": "postgres",
    "nats": "nats",
}
"""URL schemes of the first-party backends; other schemes are resolved by the plugin system."""

_BACKEND_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
_MODULE_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def url_scheme(url: str) -> str | None:
    """The scheme of ``url`` (``"sqlite"`` for ``sqlite:///x.db``), or None for a plain path."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


def normalize_backend_name(name: str) -> str:
    """``name`` lower-cased, with older spellings (``postgresql``) mapped to the current one."""
    lowered = name.strip().lower()
    return BACKEND_ALIASES.get(lowered, lowered)


# -- StorageBackendConfig ------------------------------------------------------------------------


def _backend_type(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _BACKEND_NAME.fullmatch(normalize_backend_name(value)):
        raise FieldError(
            "backend_type",
            f"Invalid backend_type {value!r}: use a backend name such as sqlite, memory, file, "
            "redis, postgres or nats (lowercase letters, digits, '_' and '-')",
        )
    return normalize_backend_name(value)


def _url(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FieldError(
            "url",
            f"Invalid url {mask_secrets(value)!r}: use a non-empty string such as "
            "'sqlite:///omniq.db' or 'redis://localhost:6379/0'",
        )
    return value.strip()


def _options(value: object) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise FieldError(
            "config",
            f"Invalid config {mask_secrets(value)!r}: use a mapping of option names to values",
        )
    return MappingProxyType(dict(value))


@frozen(repr=False)
class StorageBackendConfig:
    """Which backend one storage role uses, and its options.

    ``backend_type`` names the backend (``"sqlite"``, ``"redis"``, ``"postgres"``, ...); it may be
    omitted when ``url`` has a scheme (``StorageBackendConfig(url="redis://host/0")``). ``url`` is
    handed to the backend as its ``url`` option. ``config`` holds the backend's other options;
    the backend validates them when it loads and rejects unknown ones. Two equal configurations
    share one backend (and so one connection pool).
    """

    backend_type: str | None = field(default=None, converter=_backend_type)
    url: str | None = field(default=None, converter=_url)
    config: Mapping[str, Any] = field(factory=dict, converter=_options, hash=False)

    def __attrs_post_init__(self) -> None:
        scheme = url_scheme(self.url) if self.url is not None else None
        implied = SCHEME_BACKENDS.get(scheme) if scheme else None
        if self.backend_type is None:
            if self.url is None:
                raise FieldError(
                    "backend_type",
                    "StorageBackendConfig needs a backend_type (such as 'sqlite') or a url with a "
                    "scheme (such as 'sqlite:///omniq.db')",
                )
            if scheme is None:
                raise FieldError(
                    "backend_type",
                    f"StorageBackendConfig(url={mask_url(self.url)!r}) needs a backend_type: the "
                    "url has no scheme (such as 'sqlite://') to choose a backend by",
                )
            if implied is not None:
                object.__setattr__(self, "backend_type", implied)
        elif implied is not None and implied != self.backend_type:
            raise FieldError(
                "url",
                f"Invalid url {mask_url(self.url or '')!r} for backend_type "
                f"{self.backend_type!r}: the {scheme}:// scheme belongs to the {implied} backend",
            )
        if self.url is not None and "url" in self.config:
            raise FieldError(
                "config", "Give the url once: either url=... or config={'url': ...}, not both"
            )

    @property
    def name_or_url(self) -> str:
        """What to pass to ``omniq.load_backend``: the backend name, or the URL if there is none."""
        return self.backend_type or self.url or ""

    def load_options(self) -> dict[str, Any]:
        """The options for ``omniq.load_backend``: ``config`` plus ``url`` when both a name and a
        URL are set (with no name, the URL is the first argument instead)."""
        options = dict(self.config)
        if self.url is not None and self.backend_type is not None:
            options["url"] = self.url
        return options

    def __reduce__(self) -> tuple[Any, ...]:
        # the options are a mappingproxy, which cannot be pickled: rebuild from a dict
        return (type(self), (self.backend_type, self.url, dict(self.config)))

    def __repr__(self) -> str:
        parts = [f"backend_type={self.backend_type!r}"]
        if self.url is not None:
            parts.append(f"url={mask_url(self.url)!r}")
        if self.config:
            parts.append(f"config={mask_secrets(dict(self.config))!r}")
        return f"StorageBackendConfig({', '.join(parts)})"

    __str__ = __repr__


def _role_backend(value: object, where: str = "the backend mapping") -> StorageBackendConfig | None:
    """A role field accepts a StorageBackendConfig, a mapping of its fields, or a URL string."""
    if value is None or isinstance(value, StorageBackendConfig):
        return value
    if isinstance(value, str):
        scheme = url_scheme(value)
        if scheme is None:
            return StorageBackendConfig(backend_type=value)
        return StorageBackendConfig(url=value)
    if isinstance(value, Mapping):
        from omniq.configuration.legacy import storage_config_from_mapping

        return storage_config_from_mapping(value, where)
    raise ConfigurationError(
        f"Invalid storage backend {mask_secrets(value)!r}: use a StorageBackendConfig, a mapping "
        "such as {'backend_type': 'sqlite', 'url': 'sqlite:///omniq.db'} or a URL string"
    )


def _role_field(name: str, value: object) -> StorageBackendConfig | None:
    try:
        return _role_backend(value, name)
    except FieldError as exc:
        raise FieldError(f"{name}.{exc.field}", f"{name}: {exc}") from exc
    except ConfigurationError as exc:
        raise FieldError(name, f"{name}: {exc}") from exc


# -- OmniQConfig field validators ------------------------------------------------------------------


def _optional_seconds(name: str, value: object) -> float | None:
    return check.optional_seconds(name, value, none="no expiry")


def _seconds(name: str, value: object, *, positive: bool = False) -> float:
    return check.seconds(name, value, above=positive)


def _choice(name: str, value: object, choices: Iterable[str], *, upper: bool = False) -> str:
    allowed = tuple(choices)
    text = getattr(value, "value", value)
    if isinstance(text, str) and upper:
        text = text.upper()
    if not isinstance(text, str) or text not in allowed:
        hint = did_you_mean(text, allowed) if isinstance(text, str) else ""
        raise FieldError(name, f"Invalid {name} {value!r}: use one of {', '.join(allowed)}.{hint}")
    return text


def _serializer(value: object) -> str:
    from omniq.serialization.serializers import available_serializers

    return _choice("serializer", value, available_serializers())


def _log_level(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = logging.getLevelName(value)
    return _choice("log_level", value, LOG_LEVELS, upper=True)


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        return tuple(value)
    return value


def _allowed_modules(value: object) -> tuple[str, ...]:
    items = _split(value)
    if not isinstance(items, tuple) or not all(
        isinstance(item, str) and _MODULE_PREFIX.fullmatch(item) for item in items
    ):
        raise FieldError(
            "allowed_modules",
            f"Invalid allowed_modules {value!r}: use module prefixes such as ('myapp.tasks',) "
            "or the string 'myapp.tasks,otherapp'",
        )
    return items


def _queues(value: object) -> tuple[str, ...]:
    from omniq import names

    items = _split(value)
    try:
        if not isinstance(items, tuple):
            raise InvalidNameError("use a sequence of queue names")
        return names.validate_queue_names(items)
    except InvalidNameError as exc:
        raise FieldError("queues", f"Invalid queues {value!r}: {exc}") from exc


def _project_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError("project_name", f"Invalid project_name {value!r}: use a non-empty string")
    return value


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise FieldError(name, f"Invalid {name} {value!r}: use True or False")
    return value


def _to_task_queue_backend(v: object) -> StorageBackendConfig | None:
    return _role_field("task_queue_backend", v)


def _to_result_storage_backend(v: object) -> StorageBackendConfig | None:
    return _role_field("result_storage_backend", v)


def _to_event_storage_backend(v: object) -> StorageBackendConfig | None:
    return _role_field("event_storage_backend", v)


def _to_schedule_storage_backend(v: object) -> StorageBackendConfig | None:
    return _role_field("schedule_storage_backend", v)


def _to_default_ttl(v: object) -> float | None:
    return _optional_seconds("default_ttl", v)


def _to_max_payload_size(v: object) -> int:
    return check.count("max_payload_size", v, minimum=1, maximum=MAX_PAYLOAD_SIZE, hint=" bytes")


def _to_worker_type(v: object) -> str:
    return _choice("worker_type", v, WORKER_TYPES)


def _to_workers(v: object) -> int:
    return check.count("workers", v, maximum=check.MAX_WORKERS, hint=" (0: no worker)")


def _to_lease_seconds(v: object) -> float:
    return _seconds("lease_seconds", v, positive=True)


def _to_scheduler_enabled(v: object) -> bool:
    return _bool("scheduler_enabled", v)


def _to_eager(v: object) -> bool:
    return _bool("eager", v)


def _to_shutdown_grace(v: object) -> float:
    return _seconds("shutdown_grace", v)


def _to_default_max_retries(v: object) -> int:
    return check.count("default_max_retries", v, maximum=check.MAX_RETRIES)


def _to_retry_backoff(v: object) -> float:
    return _seconds("retry_backoff", v)


# -- OmniQConfig ----------------------------------------------------------------------------------


@frozen(init=False, repr=False)
class OmniQConfig:
    """Everything an OmniQ app needs to know: the backend of each storage role and the runtime's
    settings. All arguments are keyword-only; the older flat form
    (``task_queue_type="redis", redis_host=...``) is accepted and mapped onto the per-role
    fields (see ``docs/configuration.md``)."""

    project_name: str = field(default="omniq", converter=_project_name)
    task_queue_backend: StorageBackendConfig | None = field(
        default=None, converter=_to_task_queue_backend
    )
    result_storage_backend: StorageBackendConfig | None = field(
        default=None, converter=_to_result_storage_backend
    )
    event_storage_backend: StorageBackendConfig | None = field(
        default=None, converter=_to_event_storage_backend
    )
    schedule_storage_backend: StorageBackendConfig | None = field(
        default=None, converter=_to_schedule_storage_backend
    )
    default_ttl: float | None = field(default=DEFAULT_RESULT_TTL, converter=_to_default_ttl)
    """Seconds a result is kept; None keeps results until deleted."""
    log_level: str = field(default="INFO", converter=_log_level)
    serializer: str = field(default="json", converter=_serializer)
    allowed_modules: tuple[str, ...] = field(default=(), converter=_allowed_modules)
    max_payload_size: int = field(default=DEFAULT_MAX_PAYLOAD_SIZE, converter=_to_max_payload_size)
    worker_type: str = field(default="async", converter=_to_worker_type)
    workers: int = field(default=DEFAULT_WORKERS, converter=_to_workers)
    queues: tuple[str, ...] = field(default=("default",), converter=_queues)
    lease_seconds: float = field(
        default=DEFAULT_LEASE_SECONDS,
        converter=_to_lease_seconds,
    )
    scheduler_enabled: bool = field(default=True, converter=_to_scheduler_enabled)
    shutdown_grace: float = field(default=DEFAULT_SHUTDOWN_GRACE, converter=_to_shutdown_grace)
    default_max_retries: int = field(default=0, converter=_to_default_max_retries)
    retry_backoff: float = field(default=1.0, converter=_to_retry_backoff)
    eager: bool = field(default=False, converter=_to_eager)
    """Run every task inline when it is enqueued (for tests; no worker): see docs/testing.md."""

    def __init__(
        self,
        *,
        project_name: str = "omniq",
        task_queue_backend: StorageBackendConfig | Mapping[str, Any] | str | None = None,
        result_storage_backend: StorageBackendConfig | Mapping[str, Any] | str | None = None,
        event_storage_backend: StorageBackendConfig | Mapping[str, Any] | str | None = None,
        schedule_storage_backend: StorageBackendConfig | Mapping[str, Any] | str | None = None,
        default_ttl: float | timedelta | None = DEFAULT_RESULT_TTL,
        log_level: str | int = "INFO",
        serializer: str = "json",
        allowed_modules: Iterable[str] | str = (),
        max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE,
        worker_type: str = "async",
        workers: int = DEFAULT_WORKERS,
        queues: Iterable[str] | str = ("default",),
        lease_seconds: float | timedelta = DEFAULT_LEASE_SECONDS,
        scheduler_enabled: bool = True,
        shutdown_grace: float | timedelta = DEFAULT_SHUTDOWN_GRACE,
        default_max_retries: int = 0,
        retry_backoff: float | timedelta = 1.0,
        eager: bool = False,
        **legacy: Any,
    ) -> None:
        roles: dict[str, Any] = {
            "task_queue_backend": task_queue_backend,
            "result_storage_backend": result_storage_backend,
            "event_storage_backend": event_storage_backend,
            "schedule_storage_backend": schedule_storage_backend,
        }
        if legacy:
            from omniq.configuration.legacy import apply_legacy_keys

            roles = apply_legacy_keys(
                {name: _role_field(name, value) for name, value in roles.items()}, legacy
            )
        self.__attrs_init__(
            project_name=project_name,
            **roles,
            default_ttl=default_ttl,
            log_level=log_level,
            serializer=serializer,
            allowed_modules=allowed_modules,
            max_payload_size=max_payload_size,
            worker_type=worker_type,
            workers=workers,
            queues=queues,
            lease_seconds=lease_seconds,
            scheduler_enabled=scheduler_enabled,
            shutdown_grace=shutdown_grace,
            default_max_retries=default_max_retries,
            retry_backoff=retry_backoff,
            eager=eager,
        )

    # -- other sources ---------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OmniQConfig:
        """The configuration from ``OMNIQ_*`` environment variables (``os.environ`` by default)."""
        from omniq.configuration.env import config_kwargs_from_env

        env = os.environ if environ is None else environ
        return config_kwargs_from_env(cls, env)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OmniQConfig:
        """The configuration from a mapping of field names (as :meth:`to_dict` returns, or the
        older per-role and flat forms)."""
        from omniq.configuration.files import config_converter

        return config_converter().structure(data, cls)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> OmniQConfig:
        """The configuration from a YAML file; errors name the file and the key."""
        from omniq.configuration.files import config_from_yaml

        return config_from_yaml(cls, Path(path))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, dicts, str, numbers) that :meth:`from_dict` turns back into an equal
        configuration. Contains credentials as given: do not log it."""
        from omniq.configuration.files import config_converter

        data: dict[str, Any] = config_converter().unstructure(self)
        return data

    def storage_backend(self, role: str) -> StorageBackendConfig | None:
        """The configured backend of ``role`` (a :class:`omniq.storage.Role` or its value)."""
        value: StorageBackendConfig | None = getattr(
            self, f"{getattr(role, 'value', role)}_backend"
        )
        return value

    def __repr__(self) -> str:
        from attrs import fields

        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(type(self))]
        return f"OmniQConfig({', '.join(parts)})"

    __str__ = __repr__
