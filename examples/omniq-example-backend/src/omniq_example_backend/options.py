"""The options ``load_backend("example", ...)`` accepts."""

from __future__ import annotations

from attrs import frozen


@frozen(kw_only=True)
class ExampleOptions:
    url: str | None = None
    """``example://`` selects this backend; the URL carries nothing else."""
