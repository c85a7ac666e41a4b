"""Importing one backend plugin inside a guard and collecting the spec records its hooks yield.

Each plugin gets its own pluggy ``PluginManager("omniq")``, so nothing one plugin does (a failing
import, a hook that raises, a spec carrying another backend's name) can reach another plugin.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import importlib_metadata
import pluggy
from attrs import frozen

from omniq._redact import mask_secrets
from omniq.errors import BackendImportError, BackendUnavailableError, InvalidBackendPluginError
from omniq.logging import get_logger
from omniq.plugins import hookspecs
from omniq.plugins.discovery import ENTRY_POINT_GROUP, Candidate
from omniq.plugins.specs import SPEC_TYPES, StorageSpec
from omniq.storage import Role

__all__ = ["HOOK_NAMES", "LoadedPlugin", "clear_cache", "last_result", "load_candidate"]

log = get_logger(__name__)

HOOK_NAMES: Mapping[Role, str] = {
    Role.TASK_QUEUE: "omniq_task_queues",
    Role.RESULT_STORAGE: "omniq_result_storages",
    Role.EVENT_STORAGE: "omniq_event_storages",
    Role.SCHEDULE_STORAGE: "omniq_schedule_storages",
}
"""The hook that registers each role's storages."""


@frozen
class LoadedPlugin:
    """A plugin that imported cleanly, with one spec per role it supports."""

    candidate: Candidate
    specs: Mapping[Role, StorageSpec[Any]]

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(self.specs)

    @property
    def url_schemes(self) -> tuple[str, ...]:
        schemes: dict[str, None] = {}
        for spec in self.specs.values():
            schemes.update(dict.fromkeys(spec.url_schemes))
        return tuple(schemes)


_lock = threading.RLock()
_results: dict[Candidate, LoadedPlugin | BackendUnavailableError] = {}


def last_result(candidate: Candidate) -> LoadedPlugin | BackendUnavailableError | None:
    """What the last :func:`load_candidate` of ``candidate`` gave (``None``: never tried)."""
    with _lock:
        return _results.get(candidate)


def clear_cache() -> None:
    """Forget every load (the modules stay in ``sys.modules``)."""
    with _lock:
        _results.clear()


def load_candidate(candidate: Candidate) -> LoadedPlugin:
    """Import ``candidate``'s module and collect its specs; a success is cached, a failure is
    recorded and raised (as a :class:`~omniq.errors.BackendUnavailableError`) and retried on the
    next call."""
    with _lock:
        cached = _results.get(candidate)
        if isinstance(cached, LoadedPlugin):
            return cached
        try:
            loaded = _load(candidate)
        except BackendUnavailableError as exc:
            _results[candidate] = exc
            log.debug(
                "backend failed to load",
                backend=candidate.name,
                distribution=candidate.distribution,
                version=candidate.version,
                error=mask_secrets(str(exc)),
            )
            raise
        _results[candidate] = loaded
        log.debug(
            "backend loaded",
            backend=candidate.name,
            distribution=candidate.distribution,
            version=candidate.version,
            module=candidate.module,
            roles=sorted(role.value for role in loaded.roles),
        )
        return loaded


def _where(candidate: Candidate) -> str:
    return (
        f"OmniQ backend {candidate.name!r} (distribution {candidate.describe()}, "
        f"module {candidate.module})"
    )


def _failure(candidate: Candidate, what: str, exc: BaseException) -> BackendImportError:
    detail = mask_secrets(f"{type(exc).__name__}: {exc}")
    return BackendImportError(f"{_where(candidate)} {what}: {detail}", backend=candidate.name)


def _invalid(candidate: Candidate, problem: str) -> InvalidBackendPluginError:
    return InvalidBackendPluginError(
        f"{_where(candidate)} is not a valid OmniQ plugin: {problem}. See "
        "docs/plugins/writing-a-backend.md",
        backend=candidate.name,
    )


def _load(candidate: Candidate) -> LoadedPlugin:
    entry_point = importlib_metadata.EntryPoint(
        name=candidate.name, value=candidate.module, group=ENTRY_POINT_GROUP
    )
    try:
        plugin = entry_point.load()
    except Exception as exc:
        raise _failure(candidate, "failed to import", exc) from exc

    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    try:
        manager.register(plugin, name=candidate.name)
        manager.check_pending()
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise _invalid(candidate, str(exc)) from exc

    specs: dict[Role, StorageSpec[Any]] = {}
    for role, hook_name in HOOK_NAMES.items():
        try:
            returned: list[Iterable[Any] | None] = getattr(manager.hook, hook_name)()
            yielded = [spec for specs_of_one in returned if specs_of_one for spec in specs_of_one]
        except Exception as exc:
            raise _failure(candidate, f"failed in its hook {hook_name}", exc) from exc
        for spec in yielded:
            _check_spec(candidate, role, hook_name, spec)
            if role in specs:
                raise _invalid(candidate, f"{hook_name} yielded more than one spec")
            specs[role] = spec
    if not specs:
        raise _invalid(candidate, "it registers no storage (it implements none of the hooks)")
    option_classes = {spec.options for spec in specs.values()}
    if len(option_classes) > 1:
        raise _invalid(candidate, "its specs name different options classes; use one for all")
    return LoadedPlugin(candidate=candidate, specs=specs)


def _check_spec(candidate: Candidate, role: Role, hook_name: str, spec: object) -> None:
    expected = SPEC_TYPES[role]
    if not isinstance(spec, expected):
        raise _invalid(candidate, f"{hook_name} yielded {spec!r}, not a {expected.__name__}")
    if spec.name != candidate.name:
        raise _invalid(
            candidate,
            f"{hook_name} yielded a spec named {spec.name!r}, but the entry point in the "
            f"{ENTRY_POINT_GROUP!r} group is named {candidate.name!r}; the two must match",
        )
