"""Serialization: payload serializers (JSON by default) and record (un)structuring."""

from omniq.serialization.records import dumps_record, loads_record, make_converter
from omniq.serialization.serializers import (
    Serializer,
    available_serializers,
    get_serializer,
    register_serializer,
)

__all__ = [
    "Serializer",
    "available_serializers",
    "dumps_record",
    "get_serializer",
    "loads_record",
    "make_converter",
    "register_serializer",
]
