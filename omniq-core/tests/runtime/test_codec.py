"""The codec's JSON fast path writes exactly what the json serializer writes, and refuses what
it refuses, with the serializer's error (the types it carries: tests/serialization)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from omniq.errors import SerializationError, SerializerNotAllowedError
from omniq.runtime.codec import decode_call, decode_value, encode_call, encode_value
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


class Canary:
    """Unpickling it runs ``touch <path>``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


def test_decoding_uses_only_the_serializers_allowed(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    call = pickle.dumps([[Canary(canary)], {}])
    with pytest.raises(SerializerNotAllowedError, match="'pickle' serializer"):
        decode_call("pickle", call)  # JSON alone unless told otherwise
    with pytest.raises(SerializerNotAllowedError, match="a result"):
        decode_value("pickle", pickle.dumps(Canary(canary)), allowed=("json", "msgpack"))
    with pytest.raises(SerializerNotAllowedError, match="only with 'pickle'"):
        decode_value("json", b"1", allowed=("pickle",))
    assert not canary.exists()
    assert decode_value("pickle", pickle.dumps({1}), allowed=("pickle",)) == {1}
    assert decode_call("msgpack", b"\x92\x91\x01\x80", allowed=["msgpack"]) == ((1,), {})


def circular() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), object(), {1, object()}, [b"", object], circular()]
)
def test_what_json_cannot_hold_raises_the_serializers_error(value: Any) -> None:
    with pytest.raises(SerializationError, match="json"):
        encode_value("json", value)


def test_a_circular_value_is_refused_under_a_raised_recursion_limit() -> None:
    """Without a check for cycles, the C encoder would recurse until the C stack overflows."""
    script = (
        "import sys; sys.setrecursionlimit(100_000)\n"
        "from omniq.errors import SerializationError\n"
        "from omniq.runtime.codec import encode_value\n"
        "value = []; value.append(value)\n"
        "try:\n"
        "    encode_value('json', value)\n"
        "except SerializationError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "circular reference" in done.stdout


def test_values_shared_by_threads_are_not_taken_for_cycles() -> None:
    shared = [list(range(50)) for _ in range(50)]
    expected = get_serializer("json").dumps(shared)
    failures: list[BaseException] = []

    def encode_many() -> None:
        try:
            for _ in range(300):
                assert encode_value("json", shared) == expected
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=encode_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
