"""Finding installed backends from packaging metadata alone, without importing any of them.

A backend is an entry point in the ``omniq.backends`` group: its name is the backend's name and its
value the module holding the hook implementations. Discovery reads the ``entry_points.txt`` of the
installed distributions (``importlib_metadata``) and never imports the module; the result is
cached per ``sys.path`` and can be dropped with :func:`clear_cache` (tests that install throwaway
distributions do).

``OMNIQ_DISABLE_PLUGINS`` (comma-separated backend names) blocks backends by name: they are still
listed, as disabled, but never imported.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping

import importlib_metadata
from attrs import frozen

from omniq.plugins.known import canonical_name

__all__ = [
    "DISABLE_ENV_VAR",
    "ENTRY_POINT_GROUP",
    "Candidate",
    "clear_cache",
    "disabled_names",
    "discover",
]

ENTRY_POINT_GROUP = "omniq.backends"
DISABLE_ENV_VAR = "OMNIQ_DISABLE_PLUGINS"


@frozen
class Candidate:
    """One installed entry point in the ``omniq.backends`` group (not imported)."""

    name: str
    """The entry point's name: the backend's name."""
    module: str
    """The entry point's value: the module with the hook implementations."""
    distribution: str
    version: str

    def describe(self) -> str:
        """``"omniq-redis 0.1.0"``."""
        return f"{self.distribution} {self.version}"


_lock = threading.Lock()
_cache: dict[tuple[str, ...], Mapping[str, tuple[Candidate, ...]]] = {}


def discover() -> Mapping[str, tuple[Candidate, ...]]:
    """Every installed backend name with the entry points that register it (more than one is a
    conflict, reported when that name is loaded). Reads metadata only; cached per ``sys.path``."""
    key = tuple(sys.path)
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = _scan()
        return found


def _scan() -> Mapping[str, tuple[Candidate, ...]]:
    found: dict[str, list[Candidate]] = {}
    # entry_points() yields each distribution once (the first on sys.path wins), so a copy that is
    # shadowed by another of the same name is not reported as a conflict
    for entry_point in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        candidate = Candidate(
            name=entry_point.name,
            module=entry_point.value,
            distribution=dist.name if dist is not None else "<unknown distribution>",
            version=dist.version if dist is not None else "<unknown version>",
        )
        same = found.setdefault(candidate.name, [])
        if candidate not in same:
            same.append(candidate)
    return {name: tuple(candidates) for name, candidates in sorted(found.items())}


def clear_cache() -> None:
    """Forget what :func:`discover` found (call after installing or removing a distribution)."""
    with _lock:
        _cache.clear()


def disabled_names(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The backend names ``OMNIQ_DISABLE_PLUGINS`` blocks (read on every call)."""
    value = (os.environ if environ is None else environ).get(DISABLE_ENV_VAR, "")
    return frozenset(canonical_name(part) for part in value.split(",") if part.strip())
