"""The one place where names become paths: each name is checked to be a single safe path
component, so nothing a user names can leave ``base_dir`` (no ``..``, separators, absolute
paths or odd characters)."""

from __future__ import annotations

import re

from omniq.errors import InvalidNameError

__all__ = ["component"]

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def component(value: str, kind: str) -> str:
    """``value`` if it is safe as one path component, else :class:`InvalidNameError`."""
    if not isinstance(value, str) or _SAFE.fullmatch(value) is None:
        raise InvalidNameError(
            f"Invalid {kind} {value!r} for the file backend: use 1-128 characters of ASCII "
            "letters, digits, '_' and '-', starting with a letter or digit (it becomes a file "
            "name under base_dir, so path separators and '..' are refused)"
        )
    return value
