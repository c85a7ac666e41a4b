"""The function registry: import paths, process-local functions, allowed modules."""

from __future__ import annotations

import json

import pytest
from omniq.errors import FunctionNotAllowedError, SerializationError, ValidationError
from omniq.runtime.registry import (
    LOCAL_PREFIX,
    FunctionRegistry,
    FunctionTable,
    allowed_modules_from_env,
    import_path,
    parse_allowed_modules,
)


def module_level() -> str:
    return "ok"


class Holder:
    def method(self) -> str:
        return "bound"

    @staticmethod
    def static() -> str:
        return "static"


def fresh(*allowed: str, pickled: bool = False) -> FunctionRegistry:
    return FunctionRegistry(allowed, allow_pickled=pickled, table=FunctionTable())


def test_module_level_functions_get_their_import_path() -> None:
    assert import_path(module_level) == f"{__name__}:module_level"
    assert import_path(Holder.static) == f"{__name__}:Holder.static"
    assert import_path(json.dumps) == "json:dumps"
    assert import_path(lambda: 1) is None
    assert import_path(Holder().method) is None  # the instance would be lost

    def inner() -> None: ...

    assert import_path(inner) is None


def test_resolve_imports_only_allowed_modules() -> None:
    registry = fresh("json")
    assert registry.resolve("json:dumps") is json.dumps
    with pytest.raises(FunctionNotAllowedError) as caught:
        registry.resolve("os:system")
    message = str(caught.value)
    assert "'os:system'" in message
    assert "allowed_modules=['os']" in message
    assert "OMNIQ_ALLOWED_MODULES=os" in message
    assert "@oq.task" in message
    with pytest.raises(FunctionNotAllowedError, match="not allowed"):
        registry.resolve("jsonx:loads")  # a prefix is a module name, not a string prefix


def test_allowed_prefix_covers_submodules() -> None:
    registry = fresh("os")
    assert callable(registry.resolve("os.path:join"))
    with pytest.raises(FunctionNotAllowedError, match="importing it failed"):
        registry.resolve("os.path:no_such_function")


def test_registered_functions_resolve_without_being_allowed() -> None:
    registry = fresh()
    path = registry.register(module_level)
    assert path == f"{__name__}:module_level"
    assert registry.resolve(path) is module_level
    assert registry.register(module_level, name="checks.ok") == "checks.ok"
    assert registry.resolve("checks.ok") is module_level
    with pytest.raises(ValidationError, match="already registered"):
        registry.register(Holder.static, name="checks.ok")


def test_process_local_functions() -> None:
    registry = fresh()
    hello = lambda: "hello"  # noqa: E731
    path = registry.path_of(hello, serializable=False)
    assert path.startswith(LOCAL_PREFIX)
    assert registry.path_of(hello, serializable=False) == path  # stable
    assert registry.resolve(path) is hello
    with pytest.raises(SerializationError, match="no import path"):
        registry.path_of(hello, serializable=True)
    elsewhere = fresh("tests")
    with pytest.raises(FunctionNotAllowedError, match="process-local"):
        elsewhere.resolve(path)


def test_pickled_functions_need_pickle_on_both_sides() -> None:
    producer = fresh(pickled=True)
    path = producer.path_of(lambda x: x + 1, serializable=True)
    assert fresh(pickled=True).resolve(path)(1) == 2
    with pytest.raises(FunctionNotAllowedError, match="pickled"):
        fresh().resolve(path)


def test_malformed_paths_are_refused() -> None:
    registry = fresh("json")
    for path in ["json", "json:", ":dumps", "bad module:x", "json:dumps; rm -rf /"]:
        with pytest.raises(FunctionNotAllowedError):
            registry.resolve(path)


def test_allowed_modules_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_allowed_modules(" myapp.tasks, other ,,myapp.tasks") == ("myapp.tasks", "other")
    with pytest.raises(ValidationError, match="dotted module name"):
        parse_allowed_modules(["my-app"])
    monkeypatch.setenv("OMNIQ_ALLOWED_MODULES", "a.b,c")
    assert allowed_modules_from_env() == ("a.b", "c")
