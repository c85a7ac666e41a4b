"""The options ``load_backend("example", ...)`` accepts."""

from __future__ import annotations

from attrs import field, frozen


def _positive(_: object, attribute: object, value: float) -> None:
    if value <= 0:
        raise ValueError(f"poll_interval must be > 0, got {value!r}")


@frozen(kw_only=True)
class ExampleOptions:
    poll_interval: float = field(default=0.01, validator=_positive)
    """Seconds between checks while a worker waits for work or a caller waits for a result."""
    url: str | None = None
    """``example://`` selects this backend; the URL carries nothing else."""
