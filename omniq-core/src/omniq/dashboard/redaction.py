"""What a page or an API response may show of arguments, results, errors and headers.

Nothing secret leaves the dashboard: values under a sensitive-looking key (``password``,
``token``, ``secret``, ``api_key``, ``authorization``, ``credential``...) become ``***``, every
string goes through :func:`omniq._redact.mask_secrets` (URL passwords, ``password=`` pairs), and
large values are cut. Only JSON payloads are decoded; a pickle or msgpack payload is described
by its size, never decoded (unpickling would run code).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from omniq._redact import MASK, mask_secrets

__all__ = [
    "MAX_ITEMS",
    "MAX_TEXT",
    "arguments_view",
    "headers_view",
    "payload_view",
    "redact",
    "text",
]

MAX_TEXT = 500
"""Characters of one string shown; the rest is cut with a note."""
MAX_ITEMS = 50
"""Items of one list or object shown."""
_MAX_DEPTH = 6
SENSITIVE = re.compile(
    r"pass(word|wd)?|pwd|secret|token|api[_-]?key|auth|credential|private[_-]?key|session|cookie",
    re.IGNORECASE,
)


def text(value: str | None, limit: int = MAX_TEXT) -> str:
    """``value`` with secrets masked and cut to ``limit`` characters."""
    if not value:
        return ""
    masked = mask_secrets(value)
    if len(masked) > limit:
        return f"{masked[:limit]}… ({len(masked) - limit} more characters)"
    return masked


def redact(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of ``value`` fit to show: sensitive keys masked, strings masked and
    cut, containers cut to :data:`MAX_ITEMS`."""
    if depth > _MAX_DEPTH:
        return "…"
    if isinstance(value, str):
        return text(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= MAX_ITEMS:
                shown["…"] = f"{len(value) - MAX_ITEMS} more"
                break
            name = str(key)
            shown[text(name, 100)] = MASK if SENSITIVE.search(name) else redact(item, depth + 1)
        return shown
    if isinstance(value, list | tuple):
        items = [redact(item, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more")
        return items
    return text(repr(value))


def payload_view(payload: bytes | None, serializer: str) -> dict[str, Any]:
    """What to show of a serialized payload: ``{"value": ...}`` (JSON, redacted) or
    ``{"omitted": reason}``."""
    if payload is None:
        return {"omitted": "no value"}
    if serializer != "json":
        return {"omitted": f"{serializer} payload of {len(payload)} bytes (not decoded)"}
    try:
        decoded = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {"omitted": f"undecodable JSON payload of {len(payload)} bytes"}
    return {"value": redact(decoded)}


def arguments_view(payload: bytes, serializer: str) -> dict[str, Any]:
    """A task's ``args`` and ``kwargs`` (a JSON payload is ``[args, kwargs]``), redacted."""
    view = payload_view(payload, serializer)
    value = view.get("value")
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict):
        return {"args": value[0], "kwargs": value[1]}
    return view


def headers_view(headers: dict[str, str]) -> dict[str, str]:
    """Task headers with sensitive ones masked."""
    return {k: MASK if SENSITIVE.search(k) else text(v, 200) for k, v in headers.items()}
