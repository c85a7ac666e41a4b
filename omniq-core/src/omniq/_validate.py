"""Range checks for the numbers users give OmniQ: durations, counts, priorities and ports.

Every check refuses ``bool``, NaN and infinities, and raises
:class:`~omniq.errors.InvalidValueError` (a ``ConfigurationError`` and a ``ValueError``) whose
message names the option, the value and the allowed range. The configuration, the worker's
settings, task records, the app's arguments and the backends' options all check through here,
so one option has one range and one wording wherever it is given. ``docs/configuration.md``
lists the ranges.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any, overload

import attrs

from omniq.errors import InvalidValueError

__all__ = [
    "MAX_COUNT",
    "MAX_RETRIES",
    "MAX_SECONDS",
    "MAX_WORKERS",
    "MIN_SCHEDULE_INTERVAL",
    "WAIT_FOREVER",
    "count",
    "count_field",
    "fraction_field",
    "number",
    "optional_seconds",
    "port",
    "port_field",
    "seconds",
    "seconds_field",
]

MAX_SECONDS = 10 * 365 * 86_400.0
"""The longest duration, delay or timeout OmniQ accepts: 10 years (315,360,000 s). Longer ones
overflow datetimes and thread timeouts; for "forever" an option takes ``None`` where it can."""

MAX_COUNT = 2**31 - 1
"""The largest count (events kept, batch sizes) unless an option says less: what every backend
stores as an integer."""

MAX_WORKERS = 10_000
"""The most tasks one worker runs at once (``workers``, ``concurrency``)."""

MAX_RETRIES = 10_000
"""The most retries a task may have (``max_retries``, ``default_max_retries``)."""

MIN_SCHEDULE_INTERVAL = 1.0
"""The shortest interval of an interval schedule: schedulers look for due ticks twice a second,
so a shorter one could not fire on time."""

WAIT_FOREVER = "no time limit"
"""What ``None`` means for the timeout of a wait (``get_result``)."""

_YEARS = "10 years"


def _number(value: object) -> float | None:
    """``value`` as a float if it is an int or a float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an int too large for a float
        return math.inf


def _bound(value: float) -> str:
    value = float(value)
    text = f"{value:,.0f}" if value.is_integer() else f"{value:g}"
    return f"{text} ({_YEARS})" if value == MAX_SECONDS else text


def _range(minimum: float, maximum: float, *, above: bool) -> str:
    low = f"> {_bound(minimum)}" if above else f"{_bound(minimum)}"
    if above:
        return f"{low} and at most {_bound(maximum)}"
    return f"from {low} to {_bound(maximum)}"


def number(
    name: str,
    value: object,
    *,
    minimum: float,
    maximum: float,
    above: bool = False,
    unit: str = "a number",
    hint: str = "",
) -> float:
    """``value`` as a float if it is a finite number in ``[minimum, maximum]`` (``(minimum,
    maximum]`` when ``above``), else :class:`InvalidValueError`. ``unit`` and ``hint`` go into
    the message: ``use {unit} {range}{hint}``."""
    return _checked(name, value, _number(value), minimum, maximum, above, unit, hint)


def _checked(
    name: str,
    value: object,
    given: float | None,
    minimum: float,
    maximum: float,
    above: bool,
    unit: str,
    hint: str,
) -> float:
    if (
        given is None
        or not math.isfinite(given)
        or given < minimum
        or (above and given == minimum)
        or given > maximum
    ):
        raise InvalidValueError(
            name, value, f"{unit} {_range(minimum, maximum, above=above)}{hint}"
        )
    return given


def seconds(
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    above: bool = False,
    maximum: float = MAX_SECONDS,
    hint: str = "",
) -> float:
    """A duration in seconds (an int, a float or a timedelta), finite and in range: ``>=
    minimum`` (``> minimum`` when ``above``) and ``<= maximum`` (10 years by default)."""
    given = value.total_seconds() if isinstance(value, timedelta) else _number(value)
    return _checked(name, value, given, minimum, maximum, above, "a number of seconds", hint)


@overload
def optional_seconds(
    name: str,
    value: None,
    *,
    none: str,
    minimum: float = ...,
    above: bool = ...,
    maximum: float = ...,
) -> None: ...
@overload
def optional_seconds(
    name: str,
    value: object,
    *,
    none: str,
    minimum: float = ...,
    above: bool = ...,
    maximum: float = ...,
) -> float | None: ...
def optional_seconds(
    name: str,
    value: object,
    *,
    none: str,
    minimum: float = 0.0,
    above: bool = False,
    maximum: float = MAX_SECONDS,
) -> float | None:
    """:func:`seconds`, or ``None``; ``none`` says what ``None`` means (``"no expiry"``)."""
    if value is None:
        return None
    return seconds(
        name, value, minimum=minimum, above=above, maximum=maximum, hint=f", or None for {none}"
    )


def count(
    name: str, value: object, *, minimum: int = 0, maximum: int = MAX_COUNT, hint: str = ""
) -> int:
    """An ``int`` (not a bool) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidValueError(name, value, f"an integer from {minimum:,} to {maximum:,}{hint}")
    return value


def port(name: str, value: object) -> int:
    """A TCP port: an ``int`` from 1 to 65535."""
    return count(name, value, minimum=1, maximum=65_535)


# -- attrs validators ------------------------------------------------------------------------------

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]
"""An attrs field validator: ``(instance, attribute, value) -> None``."""


def seconds_field(
    *,
    minimum: float = 0.0,
    above: bool = False,
    maximum: float = MAX_SECONDS,
    none: str | None = None,
) -> Validator:
    """An attrs validator for a field of seconds (an int or a float; ``None`` too when ``none``
    says what it means). Fields do not convert, so a timedelta is refused."""
    hint = "" if none is None else f", or None for {none}"

    def validate(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and none is not None:
            return
        number(
            attribute.name,
            value,
            minimum=minimum,
            maximum=maximum,
            above=above,
            unit="a number of seconds",
            hint=hint,
        )

    return validate


def count_field(*, minimum: int = 0, maximum: int = MAX_COUNT, hint: str = "") -> Validator:
    """An attrs validator for an integer field in ``[minimum, maximum]``."""

    def validate(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        count(attribute.name, value, minimum=minimum, maximum=maximum, hint=hint)

    return validate


def fraction_field() -> Validator:
    """An attrs validator for a fraction from 0 to 1."""

    def validate(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        number(attribute.name, value, minimum=0.0, maximum=1.0, unit="a fraction")

    return validate


def port_field() -> Validator:
    """An attrs validator for a TCP port (1 to 65535)."""

    def validate(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        port(attribute.name, value)

    return validate
