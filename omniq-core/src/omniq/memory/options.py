"""The options ``load_backend("memory", ...)`` accepts."""

from __future__ import annotations

from urllib.parse import urlsplit

from attrs import field, frozen

from omniq import names

__all__ = ["MemoryOptions"]


def _valid_namespace(_: object, __: object, value: str | None) -> None:
    if value is not None:
        names.validate_name(value, "memory namespace")


@frozen(kw_only=True)
class MemoryOptions:
    namespace: str | None = field(default=None, validator=_valid_namespace)
    """Backends opened with the same namespace share one store; ``None`` gives a private one."""
    url: str | None = None
    """``memory://`` (a private store) or ``memory://NAME`` (the namespace ``NAME``)."""

    @property
    def store_name(self) -> str | None:
        """The namespace, from the option or else from the URL's host part."""
        if self.namespace is not None or not self.url:
            return self.namespace
        name = urlsplit(self.url).netloc or None
        if name is not None:
            names.validate_name(name, "memory namespace")
        return name
