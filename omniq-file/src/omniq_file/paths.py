"""The one place where names become paths: each name is checked to be a single safe path
component, so nothing a user names can leave ``base_dir`` (no ``..``, separators, absolute
paths or odd characters)."""

from __future__ import annotations

import re

from omniq.errors import InvalidNameError

__all__ = ["component", "is_component"]

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def is_component(value: object) -> bool:
    """Whether ``value`` is safe as one path component."""
    return isinstance(value, str) and _SAFE.fullmatch(value) is not None


def component(value: str, kind: str) -> str:
    """``value`` if it is safe as one path component, else :class:`InvalidNameError`."""
    if not is_component(value):
        raise InvalidNameError(
            f"Invalid {kind} {value!r} for the file backend: use 1-128 characters of ASCII "
            "letters, digits, '_' and '-', starting with a letter or digit (it becomes a file "
            "name under base_dir, so path separators and '..' are refused)"
        )
    return value
