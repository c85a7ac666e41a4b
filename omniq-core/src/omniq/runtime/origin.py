"""Whether the attribute a task path names is a function *defined* in the module it names.

A worker imports ``module:qualname`` from an allowed module only when every step of the
qualname is the module's own: each dotted step a class defined in that module, the last a
function (or a classmethod, or a ``functools.cache``-style wrapper of a function) defined there,
as its ``__module__`` says. Anything the module merely
holds (``os``, an imported function, ``numpy``, a ``functools.partial``, a class whose constructor
comes from another module) is refused: allowing a module allows the code written in it, never
what it imports.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

from omniq.errors import FunctionNotAllowedError

__all__ = ["TASK_FUNCTION_ATTR", "defined_function"]

TASK_FUNCTION_ATTR = "__omniq_func__"
"""Attribute under which a task wrapper (``@oq.task``) keeps the function it wraps."""


def defined_function(module: ModuleType, module_name: str, qualname: str) -> Callable[..., Any]:
    """The function ``qualname`` of ``module`` (imported as ``module_name``), or
    :class:`~omniq.errors.FunctionNotAllowedError` saying why it may not run."""
    path = f"{module_name}:{qualname}"
    parts = qualname.split(".")
    obj: Any = module
    for depth, part in enumerate(parts):
        reached = ".".join(parts[: depth + 1])
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise FunctionNotAllowedError(
                f"Cannot run {path!r}: module {module_name!r} is allowed but has no {reached!r}"
            ) from None
        if depth < len(parts) - 1 and not (inspect.isclass(obj) and _home(obj) == module_name):
            raise _refused(path, reached, obj, module_name, "a class defined in")
    fn = getattr(obj, TASK_FUNCTION_ATTR, obj)  # the function inside an @oq.task wrapper
    if not _is_function(fn) or _home(fn) != module_name:
        raise _refused(path, qualname, fn, module_name, "a function defined in")
    found: Callable[..., Any] = fn
    return found


def _is_function(obj: Any) -> bool:
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return True
    if inspect.ismethod(obj):  # a classmethod, bound to a class of the same module
        owner = obj.__self__
        return inspect.isclass(owner) and _home(owner) == _home(obj)
    # a wrapper made where the function is defined (functools.cache): what it wraps decides
    try:
        inner = inspect.unwrap(obj)
    except ValueError:  # a cycle of __wrapped__
        return False
    return inner is not obj and inspect.isfunction(inner) and _home(inner) == _home(obj)


def _home(obj: Any) -> str | None:
    """The module ``obj`` says it was defined in."""
    home = getattr(obj, "__module__", None)
    return home if isinstance(home, str) else None


def _refused(path: str, reached: str, obj: Any, module_name: str, wanted: str) -> Exception:
    return FunctionNotAllowedError(
        f"Refusing to run {path!r}: {reached!r} is {_describe(obj)}, not {wanted} {module_name!r}. "
        "A task path runs only a function defined in an allowed module, never something the "
        "module imports or holds. To run it, decorate the function with @oq.task in the module "
        "where it is defined (imported by the worker), allow that module in allowed_modules / "
        f"OMNIQ_ALLOWED_MODULES, or define a function in {module_name!r} that calls it."
    )


def _describe(obj: Any) -> str:
    if inspect.ismodule(obj):
        return f"the module {obj.__name__!r}"
    home = _home(obj)
    where = f" defined in {home!r}" if home else ""
    if inspect.isclass(obj):
        return f"the class {obj.__qualname__!r}{where}"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.ismethod(obj):
        return f"a function{where}" if where else "a built-in method"
    return f"an object of type {type(obj).__qualname__!r}"
