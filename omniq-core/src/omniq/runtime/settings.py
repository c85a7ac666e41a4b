"""The app's settings: constructor arguments over the configuration (``OmniQConfig``, from the
environment when none is given) over defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from attrs import field, frozen

from omniq import _validate as check
from omniq import names
from omniq.errors import ConfigurationError
from omniq.models.config import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_PAYLOAD_SIZE,
    DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_WORKERS,
    MAX_PAYLOAD_SIZE,
    WORKER_TYPES,
    OmniQConfig,
)

__all__ = ["AppSettings", "load_config", "settings_from", "settings_with"]


@frozen(kw_only=True)
class AppSettings:
    config: OmniQConfig
    """The configuration in use."""
    workers: int = DEFAULT_WORKERS
    """Concurrency of the in-process worker; 0: no worker (a producer only)."""
    worker_type: str = "async"
    queues: tuple[str, ...] = ("default",)
    queues_given: bool = False
    """Whether ``queues`` was passed to the app (it then wins over a ``TaskQueue``'s queues)."""
    serializer: str = "json"
    allowed_modules: tuple[str, ...] = ()
    max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE
    result_ttl: float | None = None
    """Default result TTL in seconds (the configuration's ``default_ttl``)."""
    default_max_retries: int = 0
    retry_backoff: float = 1.0
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    scheduler: bool = True
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    worker_options: Mapping[str, Any] = field(factory=dict)
    eager: bool = False
    """Tasks run inline at enqueue (no worker, no scheduler): see :mod:`omniq.runtime.eager`."""


def load_config(config: OmniQConfig | None) -> OmniQConfig:
    """``config``, or the configuration from the environment."""
    if config is None:
        return OmniQConfig.from_env()
    if not isinstance(config, OmniQConfig):
        raise ConfigurationError(
            f"Invalid config {type(config).__name__}: pass an omniq.OmniQConfig "
            "(OmniQConfig(...), OmniQConfig.from_env() or OmniQConfig.from_yaml(path))"
        )
    return config


def settings_from(
    config: OmniQConfig | None,
    *,
    workers: int | None = None,
    worker_type: str | None = None,
    queues: Sequence[str] | None = None,
    serializer: str | None = None,
    max_payload_size: int | None = None,
    result_ttl: float | timedelta | None = None,
    scheduler: bool | None = None,
    worker_options: Mapping[str, Any] | None = None,
    eager: bool | None = None,
) -> AppSettings:
    """Settings from constructor arguments, then ``config``. An eager app has no worker and
    no scheduler."""
    config = load_config(config)
    if eager is not None and not isinstance(eager, bool):
        raise ConfigurationError(f"Invalid eager {eager!r}: use True or False")
    inline = config.eager if eager is None else eager
    count = config.workers if workers is None else _workers(workers)
    if inline:
        count = 0
    kind = (
        config.worker_type
        if worker_type is None
        else str(getattr(worker_type, "value", worker_type))
    )
    if kind not in WORKER_TYPES:
        raise ConfigurationError(
            f"Invalid worker_type {kind!r}: use one of {', '.join(WORKER_TYPES)}"
        )
    chosen = config.queues
    if queues is not None:
        chosen = names.validate_queue_names([queues] if isinstance(queues, str) else queues)
    size = (
        config.max_payload_size
        if max_payload_size is None
        else check.count(
            "max_payload_size", max_payload_size, minimum=1, maximum=MAX_PAYLOAD_SIZE, hint=" bytes"
        )
    )
    ttl = (
        config.default_ttl
        if result_ttl is None
        else check.optional_seconds("result_ttl", result_ttl, none="the configuration's default")
    )
    name = config.serializer if serializer is None else serializer
    if serializer is not None:
        from omniq.serialization import get_serializer

        get_serializer(serializer)  # raises naming the known serializers
    return AppSettings(
        config=config,
        workers=count,
        worker_type=kind,
        queues=chosen,
        queues_given=queues is not None,
        serializer=name,
        allowed_modules=config.allowed_modules,
        max_payload_size=size,
        result_ttl=ttl,
        default_max_retries=config.default_max_retries,
        retry_backoff=config.retry_backoff,
        lease_seconds=config.lease_seconds,
        scheduler=False
        if inline
        else (config.scheduler_enabled and count > 0)
        if scheduler is None
        else scheduler,
        shutdown_grace=config.shutdown_grace,
        worker_options=dict(worker_options or {}),
        eager=inline,
    )


def settings_with(settings: AppSettings, **changes: Any) -> AppSettings:
    """``settings`` with ``changes`` (``workers``, ``worker_type``, ``scheduler``), checked as
    the constructor checks them."""
    import attrs

    if "worker_type" in changes and changes["worker_type"] not in WORKER_TYPES:
        raise ConfigurationError(
            f"Invalid worker_type {changes['worker_type']!r}: use one of {', '.join(WORKER_TYPES)}"
        )
    _workers(changes.get("workers", settings.workers))
    return attrs.evolve(settings, **changes)


def _workers(value: object) -> int:
    return check.count("workers", value, maximum=check.MAX_WORKERS, hint=" (0: no worker)")
