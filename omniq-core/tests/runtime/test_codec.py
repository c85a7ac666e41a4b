"""The codec's JSON fast path writes exactly what the json serializer writes, and refuses what
it refuses, with the serializer's error."""

from __future__ import annotations

from typing import Any

import pytest
from omniq.errors import SerializationError
from omniq.runtime.codec import decode_call, encode_call, encode_value
from omniq.serialization import get_serializer

VALUES: list[Any] = [
    None,
    0,
    -(2**70),
    1.5e300,
    'naïve ☃ "quoted" \\ \n',
    [1, [2, [3]], {"k": (4, 5)}],
    {"b": 1, "a": {"nested": [True, False, None]}},
    {1: "int key", 2.5: "float key", None: "none key"},
]


@pytest.mark.parametrize("value", VALUES)
def test_fast_path_matches_the_json_serializer(value: Any) -> None:
    assert encode_value("json", value) == get_serializer("json").dumps(value)


def test_a_call_round_trips() -> None:
    payload = encode_call("json", (1, "two", [3]), {"four": {"five": 5}})
    assert decode_call("json", payload) == ((1, "two", [3]), {"four": {"five": 5}})


def circular() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), object(), {1, 2}, b"bytes", circular()]
)
def test_what_json_cannot_hold_raises_the_serializers_error(value: Any) -> None:
    with pytest.raises(SerializationError, match="json"):
        encode_value("json", value)
