"""The app's settings: constructor arguments over the configuration over defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import field, frozen

from omniq import names
from omniq.errors import ConfigurationError
from omniq.runtime.building import DEFAULT_MAX_PAYLOAD_SIZE

__all__ = ["WORKER_TYPES", "AppSettings", "load_config", "settings_from"]

WORKER_TYPES = ("async", "thread_pool", "process_pool")
DEFAULT_CONCURRENCY = 10
DEFAULT_SHUTDOWN_GRACE = 30.0


@frozen(kw_only=True)
class AppSettings:
    config: Any
    """The ``OmniQConfig`` in use."""
    workers: int = DEFAULT_CONCURRENCY
    """Concurrency of the in-process worker; 0: no worker (a producer only)."""
    worker_type: str = "async"
    queues: tuple[str, ...] | None = None
    serializer: str = "json"
    allowed_modules: tuple[str, ...] = ()
    max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE
    result_ttl: float | None = None
    """Default result TTL in seconds (the configuration's ``default_ttl``)."""
    scheduler: bool = True
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    worker_options: Mapping[str, Any] = field(factory=dict)


def load_config(config: Any) -> Any:
    """``config``, or the configuration from the environment (``OmniQConfig.from_env()``)."""
    if config is not None:
        return config
    try:
        from omniq.models.config import OmniQConfig
    except ImportError:  # the configuration module is not there yet
        return None
    from_env = getattr(OmniQConfig, "from_env", None)
    return from_env() if callable(from_env) else OmniQConfig()


def _pick(override: Any, config: Any, *attributes: str, default: Any = None) -> Any:
    if override is not None:
        return override
    for attribute in attributes:
        value = getattr(config, attribute, None)
        if value is not None:
            return value
    return default


def settings_from(
    config: Any,
    *,
    workers: int | None = None,
    worker_type: str | None = None,
    queues: Sequence[str] | None = None,
    serializer: str | None = None,
    max_payload_size: int | None = None,
    result_ttl: float | None = None,
    scheduler: bool | None = None,
    worker_options: Mapping[str, Any] | None = None,
) -> AppSettings:
    """Settings from constructor arguments, then ``config``, then defaults."""
    config = load_config(config)
    count = _pick(workers, config, "workers", "worker_concurrency", default=DEFAULT_CONCURRENCY)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ConfigurationError(f"Invalid workers {count!r}: use an int >= 0 (0: no worker)")
    kind = _pick(worker_type, config, "worker_type", default="async")
    kind = str(getattr(kind, "value", kind))
    if kind not in WORKER_TYPES:
        raise ConfigurationError(
            f"Invalid worker_type {kind!r}: use one of {', '.join(WORKER_TYPES)}"
        )
    chosen_queues = _pick(queues, config, "queues")
    if chosen_queues is not None:
        chosen_queues = names.validate_queue_names(
            [chosen_queues] if isinstance(chosen_queues, str) else chosen_queues
        )
    size = _pick(max_payload_size, config, "max_payload_size", default=DEFAULT_MAX_PAYLOAD_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ConfigurationError(f"Invalid max_payload_size {size!r}: use an int > 0 (bytes)")
    ttl = _pick(result_ttl, config, "result_ttl", "default_ttl")
    if ttl is not None:
        ttl = float(getattr(ttl, "total_seconds", lambda: ttl)())
        if ttl < 0:
            raise ConfigurationError(f"Invalid result_ttl {ttl!r}: use seconds >= 0")
    modules = _pick(None, config, "allowed_modules", default=())
    grace = _pick(
        None, config, "shutdown_grace", "shutdown_timeout", default=DEFAULT_SHUTDOWN_GRACE
    )
    options = dict(_pick(None, config, "worker_options", default={}))
    options.update(worker_options or {})
    return AppSettings(
        config=config,
        workers=count,
        worker_type=kind,
        queues=chosen_queues,
        serializer=str(_pick(serializer, config, "serializer", default="json")),
        allowed_modules=tuple(modules) if not isinstance(modules, str) else (modules,),
        max_payload_size=size,
        result_ttl=ttl,
        scheduler=bool(_pick(scheduler, config, "run_scheduler", default=count > 0)),
        shutdown_grace=float(grace),
        worker_options=options,
    )


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
