"""Urlencoded form bodies, read without python-multipart (the pages post nothing else)."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

__all__ = ["MAX_FORM_BYTES", "next_path", "read_form"]

MAX_FORM_BYTES = 1_000_000


async def read_form(request: Request) -> dict[str, list[str]]:
    """The fields of a ``application/x-www-form-urlencoded`` body (``{}`` for any other)."""
    cached = getattr(request.state, "form", None)
    if cached is not None:
        return dict(cached)
    form: dict[str, list[str]] = {}
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        body = await request.body()
        if len(body) <= MAX_FORM_BYTES:
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    request.state.form = form
    return dict(form)


def is_form(request: Request) -> bool:
    """Whether the request came from a page's form (answered by a redirect, not JSON)."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/x-www-form-urlencoded"


def next_path(value: str | None, default: str) -> str:
    """A same-site path to go back to (never another site: no scheme, no ``//``)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default
