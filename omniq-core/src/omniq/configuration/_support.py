"""Small helpers shared by the configuration modules: suggestions, masking, field errors."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from omniq.errors import ConfigurationError

__all__ = ["FieldError", "did_you_mean", "mask_secrets", "mask_url"]

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)[^@/\s]*(?=@)")
_QUERY_SECRET = re.compile(r"(?P<head>[?&](?:password|passwd|pwd|secret|token)=)[^&#\s]*", re.I)
_SECRET_KEY = re.compile(r"password|passwd|secret|token|api_key|credential", re.I)


class FieldError(ConfigurationError):
    """A :class:`ConfigurationError` that also records which field (or variable) was wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def mask_url(text: str) -> str:
    """``text`` with any password in a URL (``user:pass@`` or ``?password=``) replaced by ``***``.

    Private stand-in until ``omniq._redact.mask_url`` exists.
    """
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _QUERY_SECRET.sub(lambda m: m.group("head") + MASK, text)


def mask_secrets(value: Any, key: str = "") -> Any:
    """A copy of ``value`` fit for a repr or a log line: secret-looking keys and URL passwords
    are masked, recursively through mappings and lists."""
    if key and _SECRET_KEY.search(key) and value is not None:
        return MASK
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, Mapping):
        return {k: mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_secrets(v) for v in value)
    return value


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """`` Did you mean 'x'?`` (with a leading space) for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" Did you mean {close[0]!r}?" if close else ""
