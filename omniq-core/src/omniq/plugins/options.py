"""Turning the options a user passes to ``load_backend`` into the backend's options object.

The backend's spec names an attrs class whose fields are the accepted options. Older option names
(``option_aliases``) are renamed first; then the dict is structured with cattrs, refusing unknown
keys. Every failure is a :class:`~omniq.errors.BackendOptionError` naming the backend, the option
and the accepted ones.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from functools import cache
from typing import Any

import attrs
import cattrs

from omniq._redact import mask_secrets
from omniq.errors import BackendOptionError
from omniq.serialization.records import make_converter

__all__ = ["build_options", "option_names"]


@cache
def _converter() -> cattrs.Converter:
    return make_converter()


def option_names(options_class: type | None) -> tuple[str, ...]:
    """The option names ``options_class`` accepts (its init fields), in declaration order."""
    if options_class is None:
        return ()
    if attrs.has(options_class):
        return tuple(f.name for f in attrs.fields(options_class) if f.init)
    if dataclasses.is_dataclass(options_class):
        return tuple(f.name for f in dataclasses.fields(options_class) if f.init)
    raise TypeError(f"{options_class!r} is not an attrs class (nor a dataclass)")


def build_options(
    backend: str,
    options_class: type | None,
    aliases: Mapping[str, str],
    supplied: Mapping[str, Any],
) -> Any:
    """An ``options_class`` instance from ``supplied`` (``None`` when the backend takes none)."""
    values = _rename_aliases(backend, aliases, supplied)
    allowed = option_names(options_class)
    for key in sorted(values):
        if key not in allowed:
            raise _unknown_option(backend, key, allowed, aliases)
    if options_class is None:
        return None
    try:
        return _converter().structure(values, options_class)
    except Exception as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            problems = "; ".join(cattrs.transform_error(exc, format_exception=_describe))
        else:
            problems = f"{type(exc).__name__}: {exc}"
        raise BackendOptionError(
            f"Invalid options for OmniQ backend {backend!r}: {mask_secrets(problems)}"
        ) from exc


def _describe(exc: BaseException, type_: Any) -> str:
    """cattrs' short description of a failure, with the validator's own message (which names
    the fix) kept."""
    from cattrs.v import format_exception

    short = format_exception(exc, type_)
    detail = str(exc)
    # type conversions are described well already; a validator's ValueError is not
    return f"{short} ({detail})" if short == "invalid value" and detail else short


def _rename_aliases(
    backend: str, aliases: Mapping[str, str], supplied: Mapping[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in supplied.items():
        if not isinstance(key, str):
            raise BackendOptionError(
                f"Option names for OmniQ backend {backend!r} must be strings, got {key!r}"
            )
        target = aliases.get(key, key)
        if target in values:
            raise BackendOptionError(
                f"Option {target!r} for OmniQ backend {backend!r} was given twice"
                + (f" (as {key!r}, its older name, too)" if target != key else "")
            )
        values[target] = value
    return values


def _unknown_option(
    backend: str, key: str, allowed: tuple[str, ...], aliases: Mapping[str, str]
) -> BackendOptionError:
    if not allowed:
        return BackendOptionError(
            f"Unknown option {key!r} for OmniQ backend {backend!r}: it takes no options"
        )
    if key == "url":
        head = f"OmniQ backend {backend!r} does not take a URL (no option 'url')."
    else:
        head = f"Unknown option {key!r} for OmniQ backend {backend!r}."
        close = difflib.get_close_matches(key, [*allowed, *aliases], n=1)
        if close:
            head += f" Did you mean {aliases.get(close[0], close[0])!r}?"
    message = f"{head} Allowed options: {', '.join(allowed)}"
    if aliases:
        older = ", ".join(f"{old} -> {new}" for old, new in sorted(aliases.items()))
        message += f" (older names: {older})"
    return BackendOptionError(message)
