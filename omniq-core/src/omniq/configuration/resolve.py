"""Which backend each storage role uses, and opening those backends.

For a role with no backend in the configuration, the first of these wins:

1. the environment (``OMNIQ_<ROLE>_TYPE`` / ``_URL`` / ``_OPTIONS``);
2. the task queue's backend (from the configuration or the environment), if that backend
   supports the role;
3. SQLite in the file ``omniq.db`` in the working directory (:data:`DEFAULT_STORAGE`).

Roles whose resolved configurations are equal share one :class:`~omniq.backend.base.Backend`.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from attrs import frozen

from omniq.configuration.env import role_from_env
from omniq.logging import get_logger
from omniq.models.config import OmniQConfig, StorageBackendConfig
from omniq.storage import Role

if TYPE_CHECKING:
    from omniq.backend.base import Backend

__all__ = [
    "DEFAULT_STORAGE",
    "Loader",
    "ResolvedStorage",
    "Source",
    "backends_for_roles",
    "explain_storage_configs",
    "open_backends",
    "open_role_backends",
    "resolve_storage_configs",
]

log = get_logger(__name__)

DEFAULT_STORAGE = StorageBackendConfig("sqlite", url="sqlite:///omniq.db")
"""The last fallback: SQLite in ``omniq.db``, relative to the working directory when opened."""


class Source(enum.StrEnum):
    """Where a role's resolved configuration came from."""

    CONFIG = "config"
    ENVIRONMENT = "environment"
    TASK_QUEUE = "task_queue"
    DEFAULT = "default"


@frozen
class ResolvedStorage:
    config: StorageBackendConfig
    source: Source


def explain_storage_configs(
    config: OmniQConfig | None = None, environ: Mapping[str, str] | None = None
) -> dict[Role, ResolvedStorage]:
    """Like :func:`resolve_storage_configs`, also saying where each configuration came from."""
    config = config if config is not None else OmniQConfig()
    env = os.environ if environ is None else environ
    resolved: dict[Role, ResolvedStorage] = {}
    for role in Role:
        given = config.storage_backend(role)
        if given is not None:
            resolved[role] = ResolvedStorage(given, Source.CONFIG)
            continue
        from_env = role_from_env(env, role.value)
        if from_env is not None:
            resolved[role] = ResolvedStorage(from_env, Source.ENVIRONMENT)
        elif role is not Role.TASK_QUEUE and resolved[Role.TASK_QUEUE].source is not Source.DEFAULT:
            resolved[role] = ResolvedStorage(resolved[Role.TASK_QUEUE].config, Source.TASK_QUEUE)
        else:
            resolved[role] = ResolvedStorage(DEFAULT_STORAGE, Source.DEFAULT)
    return resolved


def resolve_storage_configs(
    config: OmniQConfig | None = None, environ: Mapping[str, str] | None = None
) -> dict[Role, StorageBackendConfig]:
    """The backend configuration of every role (see the module docstring for the order)."""
    return {role: item.config for role, item in explain_storage_configs(config, environ).items()}


Loader = Callable[[str, Mapping[str, Any]], "Backend"]
"""``omniq.load_backend``'s shape: (name or URL, options) -> Backend."""


def open_backends(
    resolved: Mapping[Role, StorageBackendConfig | Backend],
    *,
    inherited: Iterable[Role] = (),
    loader: Loader | None = None,
) -> dict[Role, Backend]:
    """Load one backend per distinct configuration in ``resolved`` (``Backend`` objects are used
    as given). Roles in ``inherited`` got their configuration from the task queue: if that backend
    lacks the role, they use :data:`DEFAULT_STORAGE` instead. Any other role the backend lacks
    raises the plugin system's ``MissingRoleError``. The caller closes the backends it gets
    (each once: equal configurations share one instance). ``loader`` defaults to
    ``omniq.load_backend``."""
    from omniq.backend.base import Backend

    fallback_roles = set(inherited)
    loaded: list[tuple[StorageBackendConfig, Backend]] = []

    def load(cfg: StorageBackendConfig) -> Backend:
        for known, existing in loaded:
            if known == cfg:
                return existing
        log.debug("loading backend", backend=cfg.backend_type, url=_masked(cfg))
        backend: Backend = (loader or _load_backend)(cfg.name_or_url, cfg.load_options())
        loaded.append((cfg, backend))
        return backend

    backends: dict[Role, Backend] = {}
    for role, item in resolved.items():
        backend = item if isinstance(item, Backend) else load(item)
        if not backend.supports(role):
            if role in fallback_roles:
                log.info(
                    "task queue backend lacks a role; using the default",
                    role=role.value,
                    backend=backend.name,
                )
                backend = load(DEFAULT_STORAGE)
            else:
                backend.spec(role)  # raises MissingRoleError naming the roles it has
        backends[role] = backend
    return backends


def open_role_backends(
    config: OmniQConfig | None,
    roles: Iterable[Role] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    loader: Loader | None = None,
) -> dict[Role, Backend]:
    """Resolve and open the backends of ``roles`` (all four by default) for ``config``."""
    wanted = set(Role) if roles is None else {Role(role) for role in roles}
    explained = explain_storage_configs(config, environ)
    return open_backends(
        {role: item.config for role, item in explained.items() if role in wanted},
        inherited=[role for role, item in explained.items() if item.source is Source.TASK_QUEUE],
        loader=loader,
    )


def backends_for_roles(
    backend: Backend,
    *,
    task_queue: Backend | None = None,
    result_storage: Backend | None = None,
    event_storage: Backend | None = None,
    schedule_storage: Backend | None = None,
) -> dict[Role, Backend]:
    """Per role, the backend given for it, else ``backend`` (``OmniQ.from_backend(backend,
    result_store_backend=...)``). Roles that neither has are left out, for the caller to resolve
    from the configuration."""
    given = {
        Role.TASK_QUEUE: task_queue,
        Role.RESULT_STORAGE: result_storage,
        Role.EVENT_STORAGE: event_storage,
        Role.SCHEDULE_STORAGE: schedule_storage,
    }
    chosen: dict[Role, Backend] = {}
    for role, own in given.items():
        if own is not None:
            own.spec(role)  # a backend given for a role must have it
            chosen[role] = own
        elif backend.supports(role):
            chosen[role] = backend
    return chosen


def _load_backend(name_or_url: str, options: Mapping[str, Any]) -> Backend:
    from omniq.plugins.manager import load_backend  # type: ignore[import-not-found,unused-ignore]

    backend: Backend = load_backend(name_or_url, options)
    return backend


def _masked(cfg: StorageBackendConfig) -> str | None:
    from omniq.configuration._support import mask_url

    return mask_url(cfg.url) if cfg.url is not None else None
