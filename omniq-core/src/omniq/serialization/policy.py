"""Which serializers a process decodes with: those of its configuration, never a record's.

A task and a result name the serializer their payload was made with. Anyone who can write to the
store can write that name too, so it is only checked, never obeyed: a payload is decoded only
when its serializer is one this process's configuration allows (the app's ``serializer``), and
refused with :class:`~omniq.errors.SerializerNotAllowedError`, before anything is decoded,
otherwise. Pickle therefore runs only where the reading process chose it as well as the writer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from omniq.errors import SerializerNotAllowedError

__all__ = ["DEFAULT_SERIALIZERS", "allowed_serializers", "check_serializer", "serializer_names"]

DEFAULT_SERIALIZERS: tuple[str, ...] = ("json",)
"""What a process decodes with when it is told nothing: the default serializer."""

_CODE_RUNNING = frozenset({"pickle", "cloudpickle"})


def allowed_serializers(configured: str) -> tuple[str, ...]:
    """The serializers an app configured with ``configured`` decodes with: that one alone (no
    option lets a task choose another in code)."""
    return (configured,)


def serializer_names(value: str | Iterable[str]) -> tuple[str, ...]:
    """Serializer names from one name or several."""
    return (value,) if isinstance(value, str) else tuple(value)


def check_serializer(name: str, allowed: Collection[str], *, what: str) -> None:
    """Return if ``name`` is allowed; else raise :class:`SerializerNotAllowedError` saying why
    and how to allow it. ``what`` names the payload (``"the arguments of task X"``)."""
    if name in allowed:
        return
    shown = repr(name) if len(name) <= 40 else repr(name[:40] + "...")
    choice = ", ".join(repr(a) for a in sorted(allowed)) or "none"
    message = (
        f"Refusing to decode {what}: the record names the {shown} serializer, and this process "
        f"decodes only with {choice} (its configured serializer; a record never chooses how it "
        f"is decoded). If {shown} is what your producers and workers use, set serializer="
        f"{shown} in the configuration of both: OmniQConfig(serializer=...), "
        "OMNIQ_SERIALIZER or OmniQ(serializer=...)."
    )
    if name in _CODE_RUNNING:
        message += (
            " Pickle runs code when loading: choose it only if you trust everyone who can write "
            "to the queue and the result store."
        )
    raise SerializerNotAllowedError(message)
