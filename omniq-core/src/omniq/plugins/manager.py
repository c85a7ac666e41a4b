"""``load_backend`` and ``list_backends``: choosing, loading and describing backends.

``load_backend("redis", host=...)`` (or ``load_backend("redis://host/0")``) finds the backend's
entry point from metadata (:mod:`omniq.plugins.discovery`), imports that plugin alone inside a
guard (:mod:`omniq.plugins.loader`), builds its options (:mod:`omniq.plugins.options`) and returns
a :class:`~omniq.backend.base.Backend`. Every failure is one of the classes documented in
:mod:`omniq.errors`, with the fix in its message and any URL password masked.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal

from attrs import frozen

from omniq._redact import mask_secrets, mask_url
from omniq.backend.base import Backend
from omniq.errors import (
    BackendConflictError,
    BackendDisabledError,
    BackendNotInstalledError,
    BackendOptionError,
    BackendUnavailableError,
    MissingRoleError,
    UnknownBackendError,
)
from omniq.plugins import discovery, loader
from omniq.plugins.discovery import DISABLE_ENV_VAR, ENTRY_POINT_GROUP, Candidate
from omniq.plugins.known import KNOWN_BACKENDS, backend_for_scheme, canonical_name
from omniq.plugins.options import build_options, option_names
from omniq.plugins.specs import BackendContext, StorageSpec
from omniq.storage import Role

__all__ = [
    "BackendInfo",
    "BackendStatus",
    "ResolvedBackend",
    "clear_cache",
    "list_backends",
    "load_backend",
    "missing_role_error",
    "require_installed",
    "resolve_backend",
]

BackendStatus = Literal["not loaded", "ok", "error", "disabled"]
WRITING_A_BACKEND = "docs/plugins/writing-a-backend.md"
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")


@frozen(kw_only=True)
class BackendInfo:
    """One installed backend as :func:`list_backends` reports it."""

    name: str
    distribution: str
    version: str
    module: str
    first_party: bool
    status: BackendStatus
    """``"not loaded"`` (never imported), ``"ok"``, ``"error"`` (see ``error``), ``"disabled"``."""
    error: str | None = None
    roles: frozenset[Role] = frozenset()
    """Known once loaded."""
    url_schemes: tuple[str, ...] = ()
    """Known once loaded (and, for first-party backends, before)."""

    @property
    def loaded(self) -> bool:
        return self.status == "ok"


@frozen(kw_only=True)
class ResolvedBackend:
    """Everything a :class:`~omniq.backend.base.Backend` is built from."""

    name: str
    specs: Mapping[Role, StorageSpec[Any]]
    options: Any
    distribution: str
    version: str

    def backend_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``Backend(...)`` (a fresh context each time)."""
        return {
            "name": self.name,
            "specs": self.specs,
            "context": BackendContext(self.name, self.options),
            "distribution": self.distribution,
            "version": self.version,
        }


def load_backend(
    name_or_url: str, config: Mapping[str, Any] | None = None, /, **options: Any
) -> Backend:
    """Load the backend named ``name_or_url`` (``"redis"``) or selected by its URL scheme
    (``"redis://localhost:6379/0"``, passed to the backend as the option ``url``).

    Options come as a mapping (``load_backend("sqlite", {"db_path": "x.db"})``), as keywords, or
    both. Only this backend's plugin is imported. Raises the errors listed in :mod:`omniq.errors`.
    """
    return Backend(**resolve_backend(name_or_url, config, options).backend_arguments())


def resolve_backend(
    name_or_url: str,
    config: Mapping[str, Any] | object | None = None,
    options: Mapping[str, Any] | None = None,
) -> ResolvedBackend:
    """The checked name, specs and options ``load_backend`` builds a backend from. ``config`` may
    also be an already-built instance of the backend's options class."""
    if not isinstance(name_or_url, str):
        raise TypeError(f"load_backend() takes a backend name or URL, not {name_or_url!r}")
    options = options or {}
    prebuilt: object | None = None
    if config is not None and not isinstance(config, Mapping):
        if options:
            raise BackendOptionError("Pass either an options object or keyword options, not both")
        prebuilt, supplied = config, {}
    else:
        supplied = _merge_options(config, options)
    name, url = _select(name_or_url)
    if url is not None and (prebuilt is not None or ("url" in supplied and supplied["url"] != url)):
        raise BackendOptionError(
            f"Give the URL once: {mask_url(url)!r} selects the backend, so do not pass "
            "another URL in the options"
        )
    plugin = loader.load_candidate(_candidate(name))
    options_class = next(iter(plugin.specs.values())).options
    # a bare "memory://" carries nothing: backends without a url option accept it too
    if url is not None and (_URL.sub("", url, count=1) or "url" in option_names(options_class)):
        supplied["url"] = url
    if prebuilt is not None:
        if options_class is None or not isinstance(prebuilt, options_class):
            wanted = "no options" if options_class is None else f"a {options_class.__name__}"
            raise BackendOptionError(
                f"OmniQ backend {name!r} takes a mapping of options or {wanted}, not "
                f"{type(prebuilt).__name__}"
            )
        parsed: Any = prebuilt
    else:
        aliases: dict[str, str] = {}
        for spec in plugin.specs.values():
            aliases.update(spec.option_aliases)
        parsed = build_options(name, options_class, aliases, supplied)
    return ResolvedBackend(
        name=name,
        specs=plugin.specs,
        options=parsed,
        distribution=plugin.candidate.distribution,
        version=plugin.candidate.version,
    )


def _merge_options(config: Mapping[str, Any] | None, options: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(config or {})
    for key, value in options.items():
        if key in merged and merged[key] != value:
            raise BackendOptionError(
                f"Option {key!r} was given twice, in the mapping and as a keyword argument"
            )
        merged[key] = value
    return merged


def _select(name_or_url: str) -> tuple[str, str | None]:
    """(backend name, URL or None) for what the user passed."""
    text = name_or_url.strip()
    match = _URL.match(text)
    if match is None:
        if not text:
            raise UnknownBackendError(
                f"No OmniQ backend named: give a backend name or URL. {_installed_sentence()}"
            )
        return canonical_name(text), None
    scheme = match.group(1).lower()
    name = backend_for_scheme(scheme)
    if name is None and scheme in discovery.discover():
        name = scheme
    if name is None:
        name = _scan_for_scheme(scheme)
    if name is None:
        raise UnknownBackendError(
            f"No OmniQ backend handles the URL scheme '{scheme}://' ({mask_url(text)!r}). "
            f"{_installed_sentence()} {_how_to_register()}",
            backend=scheme,
        )
    return name, text


def _scan_for_scheme(scheme: str) -> str | None:
    """Import third-party plugins (each guarded) to find one declaring ``scheme``; the slow path
    for schemes that are neither first-party nor a backend's name."""
    disabled = discovery.disabled_names()
    for name, candidates in discovery.discover().items():
        if name in disabled or name in KNOWN_BACKENDS or len(candidates) != 1:
            continue
        try:
            plugin = loader.load_candidate(candidates[0])
        except BackendUnavailableError:
            continue
        if scheme in plugin.url_schemes:
            return name
    return None


def require_installed(name: str) -> None:
    """Raise the error ``load_backend(name)`` would raise for a backend that is not installed,
    is disabled or is registered twice, without importing anything."""
    _candidate(canonical_name(name))


def _candidate(name: str) -> Candidate:
    """The single, enabled, installed entry point for ``name``, or the error that explains why
    there is none."""
    installed = discovery.discover()
    candidates = installed.get(name, ())
    shown = mask_secrets(name)
    if not candidates:
        known = KNOWN_BACKENDS.get(name)
        if known is not None:
            raise BackendNotInstalledError(
                f"OmniQ backend {shown!r} is not installed. Install it with: "
                f"{known.install_command}\n{_installed_sentence()}",
                backend=name,
            )
        raise UnknownBackendError(
            f"Unknown OmniQ backend {shown!r}.{_did_you_mean(name)} {_installed_sentence()} "
            f"{_how_to_register()}",
            backend=name,
        )
    if name in discovery.disabled_names():
        raise BackendDisabledError(
            f"OmniQ backend {shown!r} is disabled by the environment variable "
            f"{DISABLE_ENV_VAR}; remove {shown!r} from it to use this backend",
            backend=name,
        )
    if len(candidates) > 1:
        raise BackendConflictError(_conflict_message(name, candidates), backend=name)
    return candidates[0]


def _conflict_message(name: str, candidates: tuple[Candidate, ...]) -> str:
    described = [f"{c.describe()} (module {c.module})" for c in candidates]
    listed = ", ".join(described[:-1]) + " and " + described[-1]
    return (
        f"OmniQ backend {name!r} is registered by {len(candidates)} distributions: {listed}. "
        "Uninstall all but one of them"
    )


def _installed_names() -> list[str]:
    return list(discovery.discover())


def _installed_sentence() -> str:
    names = _installed_names()
    if not names:
        return "No OmniQ backends are installed."
    return f"Installed backends: {', '.join(names)}."


def _how_to_register() -> str:
    return (
        f"Backends register through the {ENTRY_POINT_GROUP!r} entry point group; "
        f"see {WRITING_A_BACKEND}"
    )


def _did_you_mean(name: str) -> str:
    for choices in (_installed_names(), list(KNOWN_BACKENDS)):
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        if close:
            return f" Did you mean {close[0]!r}?"
    return ""


def _role_words(role: Role) -> str:
    return role.value.replace("_", " ")


def _roles_known(name: str, candidates: tuple[Candidate, ...]) -> frozenset[Role] | None:
    """The roles of an installed backend, known without importing it (``None``: unknown)."""
    if len(candidates) == 1:
        result = loader.last_result(candidates[0])
        if isinstance(result, loader.LoadedPlugin):
            return result.roles
        if result is not None:
            return None
        known = KNOWN_BACKENDS.get(name)
        if known is not None and _same_distribution(known.distribution, candidates[0].distribution):
            return known.roles
    return None


def missing_role_error(name: str, role: Role, roles: frozenset[Role]) -> MissingRoleError:
    """The error for backend ``name`` (which has ``roles``) being asked for ``role``."""
    words = _role_words(role)
    a_words = ("an " if words[0] in "aeiou" else "a ") + words
    provides = [_role_words(r) for r in Role if r in roles]
    disabled = discovery.disabled_names()
    others = [
        other
        for other, candidates in discovery.discover().items()
        if other != name
        and other not in disabled
        and role in (_roles_known(other, candidates) or frozenset())
    ]
    message = (
        f"Unsupported {words} backend: {name!r} has no {words}. "
        + (f"It provides: {', '.join(provides)}. " if provides else "It provides no roles. ")
        + (
            f"Backends with {a_words}: {', '.join(others)}."
            if others
            else f"No other installed backend is known to provide {a_words}."
        )
    )
    return MissingRoleError(message, backend=name)


def _same_distribution(a: str, b: str) -> bool:
    def norm(dist: str) -> str:
        return re.sub(r"[-_.]+", "-", dist).lower()

    return norm(a) == norm(b)


def list_backends(*, load: bool = False) -> list[BackendInfo]:
    """Every installed backend, from metadata alone; with ``load=True`` each enabled backend is
    imported (each in its own guard) so that its status, roles and URL schemes are known."""
    disabled = discovery.disabled_names()
    infos: list[BackendInfo] = []
    for name, candidates in discovery.discover().items():
        for candidate in candidates:
            infos.append(_info(name, candidate, candidates, disabled, load))
    return infos


def _info(
    name: str,
    candidate: Candidate,
    candidates: tuple[Candidate, ...],
    disabled: frozenset[str],
    load: bool,
) -> BackendInfo:
    known = KNOWN_BACKENDS.get(name)
    first_party = known is not None and _same_distribution(
        known.distribution, candidate.distribution
    )
    base: dict[str, Any] = {
        "name": name,
        "distribution": candidate.distribution,
        "version": candidate.version,
        "module": candidate.module,
        "first_party": first_party,
        "url_schemes": known.url_schemes if known is not None and first_party else (),
    }
    if name in disabled:
        return BackendInfo(status="disabled", **base)
    if len(candidates) > 1:
        return BackendInfo(status="error", error=_conflict_message(name, candidates), **base)
    if load:
        # a failure is recorded by the loader and reported below
        with contextlib.suppress(BackendUnavailableError):
            loader.load_candidate(candidate)
    result = loader.last_result(candidate)
    if result is None:
        return BackendInfo(status="not loaded", **base)
    if isinstance(result, loader.LoadedPlugin):
        base["url_schemes"] = result.url_schemes
        return BackendInfo(status="ok", roles=result.roles, **base)
    return BackendInfo(status="error", error=str(result), **base)


def clear_cache() -> None:
    """Forget discovered entry points and loaded plugins (for tests that install throwaway
    distributions; modules already imported stay in ``sys.modules``)."""
    discovery.clear_cache()
    loader.clear_cache()
