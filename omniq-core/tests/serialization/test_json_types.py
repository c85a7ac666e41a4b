"""The json serializer carries the common types and registered ones, names what it cannot, and
builds nothing a record names unless this process registered it."""

from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pytest
from omniq.errors import SerializationError
from omniq.runtime.codec import decode_call, decode_value, encode_call, encode_value
from omniq.serialization import JSONSerializer, JSONTypes, json_types, register_json_type
from omniq.serialization.json_types import TAG


class Color(enum.Enum):
    RED = "red"
    BLUE = (0, 0, 255)


class Level(enum.IntEnum):
    LOW = 1


@attrs.frozen
class Point:
    x: int
    y: int
    _label: str = "p"


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    total: Decimal
    at: datetime
    lines: tuple[str, ...] = ()
    cache: dict[str, Any] = dataclasses.field(default_factory=dict, init=False)


class Money:
    def __init__(self, amount: Decimal, currency: str) -> None:
        self.amount, self.currency = amount, currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (self.amount, self.currency) == (
            other.amount,
            other.currency,
        )

    __hash__ = None  # type: ignore[assignment]


class Pair(NamedTuple):
    a: int
    b: int


@pytest.fixture(autouse=True)
def registered() -> Any:
    for cls in (Color, Level, Point, Order):
        register_json_type(cls)
    register_json_type(
        Money,
        name="money",
        encode=lambda m: [m.amount, m.currency],
        decode=lambda v: Money(v[0], v[1]),
    )
    yield
    for cls in (Color, Level, Point, Order, Money):
        json_types.unregister(cls)


def round_trip(value: Any) -> Any:
    back = decode_value("json", encode_value("json", value))
    assert back == value
    assert type(back) is type(value)
    return back


def _stable_repr(value: Any) -> str:
    """A test id that is the same in every process: a set's repr follows the hash seed, and
    pytest-xdist refuses workers that collected different ids."""
    if isinstance(value, set | frozenset):
        return f"{type(value).__name__}({sorted(value)!r})"
    return repr(value)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 12, 2, 1, 2, 3, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2026, 12, 2, 1, 2, 3),  # naive stays naive
        date(2026, 12, 2),
        time(23, 59, 58, 1),
        timedelta(days=-3, seconds=5, microseconds=7),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        Decimal("3.14159265358979323846264338327950288"),
        Decimal("-0.000"),  # sign and exponent kept
        b"\x00\xffbytes",
        bytearray(b"abc"),
        (1, "two", (3, (4,))),
        (),
        {1, 2, 3},
        frozenset({"a", "b"}),
        set(),
    ],
    ids=lambda value: _stable_repr(value),
)
def test_each_builtin_type_round_trips(value: Any) -> None:
    back = round_trip(value)
    if isinstance(value, datetime):
        assert back.utcoffset() == value.utcoffset()


def test_dicts_keep_their_key_types() -> None:
    value = {1: "int", 2.5: "float", None: "none", (1, 2): "tuple", False: "bool"}
    assert round_trip(value) == value
    assert list(round_trip({2: "b", 1: "a"})) == [2, 1]  # order kept


def test_a_users_dict_with_the_tag_key_is_not_taken_for_a_tagged_object() -> None:
    value = {TAG: "datetime", "value": "2026-12-02T00:00:00"}
    assert round_trip(value) == value
    assert round_trip({"kwargs": {TAG: 1}}) == {"kwargs": {TAG: 1}}


def test_enums_attrs_dataclasses_and_custom_types_round_trip() -> None:
    assert round_trip(Color.RED) is Color.RED
    assert round_trip(Color.BLUE) is Color.BLUE  # a tuple value
    assert round_trip(Level.LOW) is Level.LOW  # an IntEnum is not written as an int
    assert round_trip(Point(1, 2, label="q")) == Point(1, 2, label="q")  # private field by alias
    order = Order(uuid.uuid4(), Decimal("9.99"), datetime.now(UTC), ("a", "b"))
    order.cache["x"] = 1  # not an __init__ field: not written
    back = decode_value("json", encode_value("json", order))
    assert back == dataclasses.replace(order) and back.lines == ("a", "b") and back.cache == {}
    assert round_trip([Money(Decimal("1.5"), "EUR")]) == [Money(Decimal("1.5"), "EUR")]


def test_nested_values_round_trip_through_a_call() -> None:
    args = (1, [(2, 3), {4: {Color.RED}}], {"when": date(2026, 1, 1)})
    kwargs = {"at": datetime(2026, 1, 1, tzinfo=UTC), "ids": frozenset({uuid.UUID(int=1)})}
    assert decode_call("json", encode_call("json", args, kwargs)) == (args, kwargs)
    assert decode_call("json", encode_call("json", (), {TAG: "x"})) == ((), {TAG: "x"})


def test_subclasses_of_json_types_are_written_as_their_base() -> None:
    class Text(str):
        pass

    assert decode_value("json", encode_value("json", [Text("a")])) == ["a"]
    assert decode_value("json", encode_value("json", Pair(1, 2))) == (1, 2)  # a tuple


def test_plain_json_is_written_as_before_so_old_records_decode() -> None:
    """Values JSON holds as themselves are the bytes the standard library writes, and bytes
    written before tagged objects existed decode to the same values."""
    values: list[Any] = [None, 1, -(2**70), 1.5, "é ☃", [1, [2]], {"a": {"b": [True, None]}}]
    for value in values:
        old = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        assert encode_value("json", value) == old
        assert decode_value("json", old) == value
    old_call = json.dumps([[1, "x", [2]], {"k": {"n": 1}}], separators=(",", ":")).encode()
    assert encode_call("json", (1, "x", [2]), {"k": {"n": 1}}) == old_call
    assert decode_call("json", old_call) == ((1, "x", [2]), {"k": {"n": 1}})


def test_an_unsupported_value_is_refused_naming_its_type_and_path() -> None:
    class Opaque:
        pass

    with pytest.raises(SerializationError) as caught:
        encode_call("json", (1, {"when": Opaque()}), {})
    message = str(caught.value)
    assert 'args[1]["when"]' in message
    assert "Opaque" in message and "register_json_type(" in message and "encode=" in message
    with pytest.raises(SerializationError, match=r'kwargs\["at"\]\[0\]'):
        encode_call("json", (), {"at": [Opaque()]})
    with pytest.raises(SerializationError, match=r'result\["a"\]\[2\]'):
        encode_value("json", {"a": {2: Opaque()}})


def test_an_unregistered_enum_or_class_is_refused_with_how_to_register_it() -> None:
    class Mood(enum.Enum):
        OK = 1

    @attrs.define
    class Unknown:
        x: int

    for value in (Mood.OK, Unknown(1)):
        with pytest.raises(SerializationError, match=r"args\[0\].*register_json_type\(") as c:
            encode_call("json", (value,), {})
        assert type(value).__qualname__ in str(c.value) and "encode=" not in str(c.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_floats_are_refused_with_their_path(bad: float) -> None:
    with pytest.raises(SerializationError, match=r"args\[0\]\[1\] .*not a JSON number"):
        encode_call("json", ([1.0, bad],), {})
    with pytest.raises(SerializationError, match=r'kwargs\["x"\]'):
        encode_call("json", (), {"x": bad})


def test_a_circular_value_is_refused_with_its_path() -> None:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    with pytest.raises(SerializationError, match=r'args\[0\]\[1\]\["again"\].*circular'):
        encode_call("json", (loop,), {})


def test_decoding_never_builds_a_class_it_was_not_told_of(tmp_path: Path) -> None:
    """A record naming a class, a module path or a removed registration is refused: nothing is
    imported or built."""
    canary = tmp_path / "canary"
    for name in ("os:system", "pathlib:Path", "builtins:eval", "tests.Point", "subprocess.Popen"):
        record = json.dumps({TAG: name, "value": f"touch {canary}"}).encode()
        with pytest.raises(SerializationError, match="not registered in this process"):
            decode_value("json", record)
    payload = encode_value("json", Point(1, 2))
    json_types.unregister(Point)
    with pytest.raises(SerializationError, match=f"{Point.__module__}:Point"):
        decode_value("json", payload)
    assert not canary.exists()


def test_malformed_tagged_objects_are_refused() -> None:
    for doc in ({TAG: "tuple"}, {TAG: "tuple", "value": [], "x": 1}, {TAG: 3, "value": []}):
        with pytest.raises(SerializationError, match="Malformed"):
            decode_value("json", json.dumps(doc).encode())
    with pytest.raises(SerializationError, match="'uuid'"):
        decode_value("json", json.dumps({TAG: "uuid", "value": "not-a-uuid"}).encode())


def test_the_registry_refuses_a_name_taken_by_another_class() -> None:
    types = JSONTypes()

    class A:
        pass

    class B:
        pass

    types.register(A, name="thing", encode=lambda a: 1, decode=lambda v: A())
    with pytest.raises(SerializationError, match="already registered"):
        types.register(B, name="thing", encode=lambda b: 1, decode=lambda v: B())
    with pytest.raises(SerializationError, match="both encode and decode"):
        types.register(B, encode=lambda b: 1)
    with pytest.raises(SerializationError, match="not an enum, an attrs class or a dataclass"):
        types.register(B)


def test_a_serializer_with_its_own_registry_carries_only_its_types() -> None:
    types = JSONTypes()
    types.register(Color, name="color")
    own = JSONSerializer(types)
    assert own.loads(own.dumps([Color.RED])) == [Color.RED]
    with pytest.raises(SerializationError, match="not one it carries"):
        own.dumps(datetime.now(UTC))


def test_sets_give_the_same_bytes_whatever_their_order() -> None:
    assert encode_value("json", {3, 1, 2}) == encode_value("json", {2, 3, 1})
    mixed = {1, "a"}
    assert decode_value("json", encode_value("json", mixed)) == mixed
