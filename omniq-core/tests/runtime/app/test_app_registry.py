"""The function registry: import paths, process-local functions, allowed modules."""

from __future__ import annotations

import importlib
import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

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


PROBE = "omniq_registry_probe"
PROBE_SOURCE = """
import functools
import json
import os
from os import system
from subprocess import Popen

import pytest


def defined_here():
    return "here"


@functools.cache
def cached():
    return "cached"


class Holder:
    @staticmethod
    def static():
        return "static"

    @classmethod
    def made(cls):
        return cls.__name__


class Box:
    run = staticmethod(os.system)  # defined here, holding a function defined elsewhere


partial_system = functools.partial(os.system)
BUILTIN_ALIAS = system
imported_names = (json, Popen)
"""


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """An importable module that defines some functions and imports others."""
    (tmp_path / f"{PROBE}.py").write_text(textwrap.dedent(PROBE_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(PROBE, None)
    yield importlib.import_module(PROBE)
    sys.modules.pop(PROBE, None)


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
    registry = fresh("email")
    assert registry.resolve("email.utils:formatdate") is __import__("email.utils").utils.formatdate
    with pytest.raises(FunctionNotAllowedError, match="has no 'no_such_function'"):
        registry.resolve("email.utils:no_such_function")
    with pytest.raises(FunctionNotAllowedError, match="importing it failed"):
        registry.resolve("email.no_such_module:f")


def test_resolve_runs_only_functions_defined_in_the_allowed_module(probe: ModuleType) -> None:
    registry = fresh(PROBE)
    assert registry.resolve(f"{PROBE}:defined_here") is probe.defined_here
    assert registry.resolve(f"{PROBE}:Holder.static") is probe.Holder.static
    assert registry.resolve(f"{PROBE}:Holder.made")() == "Holder"
    assert registry.resolve(f"{PROBE}:cached") is probe.cached
    reached_through = {
        "os.system": "the module 'os'",
        "os.path.join": "the module 'os'",
        "system": "a function defined in 'posix'",
        "BUILTIN_ALIAS": "a function defined in 'posix'",
        "json.dumps": "the module 'json'",
        "Popen": "the class 'Popen' defined in 'subprocess'",
        "Box.run": "a function defined in 'posix'",
        "Box": "the class 'Box'",
        "partial_system": "an object of type 'partial'",
        "Holder.__class__.mro": "the class 'type' defined in 'builtins'",
        "Holder.__init_subclass__": "a built-in method",
        "pytest.raises": "the module 'pytest'",
        "imported_names": "an object of type 'tuple'",
    }
    for qualname, described in reached_through.items():
        path = f"{PROBE}:{qualname}"
        with pytest.raises(FunctionNotAllowedError) as caught:
            registry.resolve(path)
        message = str(caught.value)
        assert message.startswith(f"Refusing to run {path!r}"), message
        assert described in message, message
        assert "@oq.task" in message and "allowed_modules" in message
    assert registry.resolve(f"{PROBE}:defined_here") is probe.defined_here  # still


def test_a_module_alias_is_not_the_module_it_names() -> None:
    """``os.path`` is ``posixpath``: allowing ``os`` does not allow what ``posixpath`` defines
    (nor, say, ``six.moves.builtins:eval`` through a vendored six)."""
    with pytest.raises(FunctionNotAllowedError, match="defined in 'posixpath'"):
        fresh("os").resolve("os.path:join")
    assert fresh("posixpath").resolve("posixpath:join") is os.path.join


def test_what_one_registry_imported_is_not_allowed_in_another(probe: ModuleType) -> None:
    table = FunctionTable()
    allowing = FunctionRegistry([PROBE], table=table)
    assert allowing.resolve(f"{PROBE}:defined_here") is probe.defined_here
    with pytest.raises(FunctionNotAllowedError, match="not allowed"):
        FunctionRegistry([], table=table).resolve(f"{PROBE}:defined_here")


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


def test_a_pickled_function_known_to_the_process_needs_pickle_too() -> None:
    """Made or loaded by a registry that chose pickle, it still does not run through one that
    did not, though both share the process's table."""
    table = FunctionTable()
    producer = FunctionRegistry(allow_pickled=True, table=table)
    path = producer.path_of(lambda x: x + 1, serializable=True)
    loader = FunctionRegistry(allow_pickled=True, table=FunctionTable())
    assert loader.resolve(path)(1) == 2
    for registry in (FunctionRegistry(table=table), FunctionRegistry(table=loader.table)):
        with pytest.raises(FunctionNotAllowedError, match="serializer='pickle'"):
            registry.resolve(path)


def test_malformed_paths_are_refused() -> None:
    registry = fresh("json")
    for path in [
        "json",
        "json:",
        ":dumps",
        "bad module:x",
        "json:dumps; rm -rf /",
        "json:dumps()",
        "json:<locals>.f",
        "json:.dumps",
    ]:
        with pytest.raises(FunctionNotAllowedError):
            registry.resolve(path)


def test_allowed_modules_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_allowed_modules(" myapp.tasks, other ,,myapp.tasks") == ("myapp.tasks", "other")
    with pytest.raises(ValidationError, match="dotted module name"):
        parse_allowed_modules(["my-app"])
    monkeypatch.setenv("OMNIQ_ALLOWED_MODULES", "a.b,c")
    assert allowed_modules_from_env() == ("a.b", "c")
