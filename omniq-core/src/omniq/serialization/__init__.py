"""Serialization: payload serializers (JSON by default) and record (un)structuring."""

from omniq.serialization.json_types import JSONType, JSONTypes, json_types, register_json_type
from omniq.serialization.records import dumps_record, loads_record, make_converter
from omniq.serialization.serializers import (
    Serializer,
    available_serializers,
    get_serializer,
    register_serializer,
)
from omniq.serialization.tagged_json import JSONSerializer

__all__ = [
    "JSONSerializer",
    "JSONType",
    "JSONTypes",
    "Serializer",
    "available_serializers",
    "dumps_record",
    "get_serializer",
    "json_types",
    "loads_record",
    "make_converter",
    "register_json_type",
    "register_serializer",
]
