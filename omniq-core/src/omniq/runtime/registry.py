"""Which functions a process may run, and the paths tasks name them by.

A task names its function by a string. A function defined at module level is named by its import
path, ``"package.module:qualname"``, so any worker process can find it. Lambdas, closures, bound
methods and functions of a script run as ``__main__`` have no import path: they get a
*process-local* path (``"local!<process>!<n>!<module>:<qualname>"``) that only the process that
registered them can resolve. Such a task may only be enqueued where it does not have to cross
processes, unless the pickle serializer was chosen: then the function itself travels, pickled, in
the path (``"pickled!<base64>"``).

A worker never imports whatever a stored task names. :meth:`FunctionRegistry.resolve` returns
functions registered in this process (decorated with ``@oq.task`` or enqueued through this
process's app), and imports ``module:qualname`` only when ``module`` is one of the allowed modules
or below one *and* ``qualname`` is a function defined in that module (see
:mod:`omniq.runtime.origin`: ``allowed:os.system`` is refused); pickled functions load only when
the pickle serializer was chosen. Everything else raises
:class:`~omniq.errors.FunctionNotAllowedError`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import importlib
import inspect
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from omniq.errors import FunctionNotAllowedError, SerializationError, ValidationError
from omniq.runtime.origin import TASK_FUNCTION_ATTR, defined_function

__all__ = [
    "ALLOWED_MODULES_ENV",
    "LOCAL_PREFIX",
    "PICKLED_PREFIX",
    "TASK_FUNCTION_ATTR",
    "FunctionRegistry",
    "FunctionTable",
    "allowed_modules_from_env",
    "import_path",
    "parse_allowed_modules",
]

ALLOWED_MODULES_ENV = "OMNIQ_ALLOWED_MODULES"
LOCAL_PREFIX = "local!"
PICKLED_PREFIX = "pickled!"

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
"""A dotted name: a module's, or a qualname without ``<locals>``."""
_MAX_IMPORTED = 10_000
_PROCESS_TOKEN = binascii.hexlify(os.urandom(4)).decode()


def parse_allowed_modules(value: str | Iterable[str]) -> tuple[str, ...]:
    """Allowed module prefixes from a comma-separated string or an iterable of names."""
    items = value.split(",") if isinstance(value, str) else list(value)
    modules: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationError(f"Invalid allowed module {item!r}: use a dotted module name")
        name = item.strip()
        if not name:
            continue
        if _MODULE.fullmatch(name) is None:
            raise ValidationError(
                f"Invalid allowed module {name!r}: use a dotted module name such as 'myapp.tasks'"
            )
        if name not in modules:
            modules.append(name)
    return tuple(modules)


def allowed_modules_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Module prefixes listed in ``OMNIQ_ALLOWED_MODULES`` (comma-separated)."""
    env = os.environ if environ is None else environ
    return parse_allowed_modules(env.get(ALLOWED_MODULES_ENV, ""))


def _unwrap(obj: Any) -> Any:
    """The function inside a task wrapper, or ``obj`` itself."""
    return getattr(obj, TASK_FUNCTION_ATTR, obj)


def _lookup(module: Any, qualname: str) -> Any:
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def import_path(fn: Callable[..., Any]) -> str | None:
    """``"module:qualname"`` if importing that finds ``fn`` again, else ``None``."""
    module_name = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    module = sys.modules.get(module_name)
    if module is None:
        return None
    if module_name == "__main__":
        spec = getattr(module, "__spec__", None)
        name = getattr(spec, "name", None)
        if not name or name == "__main__":
            return None  # a script: no import path other processes could use
        module_name = name  # run with ``python -m package.module``
    try:
        found = _lookup(module, qualname)
    except AttributeError:
        # Decorators run before the module attribute exists; trust plain module-level functions.
        if "." in qualname or not inspect.isfunction(fn):
            return None
        return f"{module_name}:{qualname}"
    if found is fn or found == fn or _unwrap(found) is fn:
        return f"{module_name}:{qualname}"
    return None


class FunctionTable:
    """Registered functions by path. One table is shared by every registry of the process
    (so a function registered through one app runs in a worker of another); tests may make their
    own."""

    def __init__(self) -> None:
        self.by_path: dict[str, Callable[..., Any]] = {}
        self.by_function: dict[Any, tuple[str, bool]] = {}
        self.pickled: dict[Any, str] = {}
        self.lock = threading.Lock()
        self.counter = 0


_PROCESS_TABLE = FunctionTable()


class FunctionRegistry:
    """The functions this process may run, by path (thread-safe).

    Registrations live in a process-wide :class:`FunctionTable`; what a registry adds is its
    policy: the allowed modules it may import from, and whether pickled functions may load.
    """

    def __init__(
        self,
        allowed_modules: Iterable[str] = (),
        *,
        allow_pickled: bool = False,
        table: FunctionTable | None = None,
    ) -> None:
        self.allowed_modules = parse_allowed_modules(allowed_modules)
        self.allow_pickled = allow_pickled
        """Whether ``pickled!`` paths may be loaded (only when the pickle serializer was chosen)."""
        shared = _PROCESS_TABLE if table is None else table
        self.table = shared
        self._by_path = shared.by_path
        self._by_function = shared.by_function
        self._pickled = shared.pickled
        self._lock = shared.lock
        self._imported: dict[str, Callable[..., Any]] = {}
        """Functions this registry imported from its allowed modules or loaded pickled."""

    # -- registering ---------------------------------------------------------------------------

    def register(self, fn: Callable[..., Any], name: str | None = None) -> str:
        """Register ``fn`` and return its path: ``name`` if given, else its import path, else a
        process-local path."""
        if not callable(fn):
            raise ValidationError(f"Cannot register {fn!r}: it is not callable")
        fn = _unwrap(fn)
        if name is not None:
            return self._register_named(fn, name)
        return self._register(fn)[0]

    def _register_named(self, fn: Callable[..., Any], name: str) -> str:
        if (
            not isinstance(name, str)
            or not name.strip()
            or name.startswith((LOCAL_PREFIX, PICKLED_PREFIX))
        ):
            raise ValidationError(
                f"Invalid task name {name!r}: use a non-empty string such as 'emails.send'"
            )
        with self._lock:
            existing = self._by_path.get(name)
            if existing is not None and existing is not fn and _describe(existing) != _describe(fn):
                raise ValidationError(
                    f"Task name {name!r} is already registered for {_describe(existing)}; "
                    f"choose another name for {_describe(fn)}"
                )
            self._by_path[name] = fn
            self._remember(fn, (name, False))
        return name

    def _register(self, fn: Callable[..., Any]) -> tuple[str, bool]:
        entry = self._known(fn)
        if entry is not None:
            return entry
        path = import_path(fn)
        with self._lock:
            entry = self._known(fn)
            if entry is not None:
                return entry
            if path is None:
                self.table.counter += 1
                path = (
                    f"{LOCAL_PREFIX}{_PROCESS_TOKEN}!{self.table.counter}!"
                    f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
                )
                entry = (path, True)
            else:
                entry = (path, False)
            self._by_path[path] = fn
            self._remember(fn, entry)
        return entry

    def _known(self, fn: Any) -> tuple[str, bool] | None:
        try:
            return self._by_function.get(fn)
        except TypeError:  # unhashable callable object
            return None

    def _remember(self, fn: Any, entry: tuple[str, bool]) -> None:
        with contextlib.suppress(TypeError):
            self._by_function[fn] = entry

    def path_of(self, fn: Callable[..., Any], serializable: bool) -> str:
        """The path a task names ``fn`` by, registering it on first use.

        ``serializable`` is true when the task may run in another process (the queue is shared
        with other processes, or no worker of this process serves it). A function without an
        import path then travels pickled if pickle was chosen, and is refused otherwise with
        :class:`~omniq.errors.SerializationError`.
        """
        entry = self._known(fn)
        if entry is None:
            entry = self._register(_unwrap(fn))
        path, local = entry
        if not local or not serializable:
            return path
        if self.allow_pickled:
            return self._pickled_path(_unwrap(fn))
        raise SerializationError(
            f"Cannot enqueue {_describe(_unwrap(fn))}: it has no import path (a lambda, a closure, "
            "a bound method or a function of a script run as __main__), so a worker in another "
            "process could not find it. Define it at module level in an importable module (and "
            "decorate it with @oq.task or list its module in allowed_modules), or choose the "
            "pickle serializer, which ships the function itself (and lets anyone who can write to "
            "the queue run code in your workers)."
        )

    def _pickled_path(self, fn: Callable[..., Any]) -> str:
        try:
            cached = self._pickled.get(fn)
        except TypeError:
            cached = None
        if cached is not None:
            return cached
        from omniq.serialization import get_serializer

        data = get_serializer("pickle").dumps(fn)
        path = PICKLED_PREFIX + base64.b64encode(data).decode("ascii")
        with self._lock:
            self._by_path[path] = fn
            with contextlib.suppress(TypeError):
                self._pickled[fn] = path
        return path

    # -- resolving -----------------------------------------------------------------------------

    def is_allowed_module(self, module: str) -> bool:
        """Whether ``module`` is one of the allowed modules or below one."""
        return any(module == p or module.startswith(p + ".") for p in self.allowed_modules)

    def resolve(self, path: str) -> Callable[..., Any]:
        """The function a task names; :class:`~omniq.errors.FunctionNotAllowedError`, saying
        why and how to allow it, if this process does not know it and may not import it."""
        if path.startswith(PICKLED_PREFIX):
            return self._load_pickled(path)
        fn = self._known_path(path)
        if fn is not None:
            return fn
        if path.startswith(LOCAL_PREFIX):
            raise FunctionNotAllowedError(
                f"Cannot run {_local_name(path)}: it is a process-local function (a lambda, a "
                "closure or a function of a script) enqueued by another process, which alone can "
                "run it. Define it at module level in an importable module and decorate it with "
                "@oq.task or list its module in allowed_modules / OMNIQ_ALLOWED_MODULES."
            )
        module_name, sep, qualname = path.partition(":")
        if not sep or _MODULE.fullmatch(module_name) is None or _MODULE.fullmatch(qualname) is None:
            raise FunctionNotAllowedError(
                f"Cannot run {_shown(path)}: not a registered task name nor a 'module:qualname' "
                "path"
            )
        if not self.is_allowed_module(module_name):
            top = module_name.split(".")[0]
            allowed = ", ".join(self.allowed_modules) or "none"
            raise FunctionNotAllowedError(
                f"Refusing to run {path!r}: it is not registered in this process and module "
                f"{module_name!r} is not allowed (allowed modules: {allowed}). Allow it with "
                f"allowed_modules=[{top!r}] in the configuration, OMNIQ_ALLOWED_MODULES={top} in "
                "the environment, or decorate the function with @oq.task in a module the worker "
                "imports."
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise FunctionNotAllowedError(
                f"Cannot run {path!r}: its module is allowed but importing it failed: {exc}"
            ) from exc
        registered = self._by_path.get(path)  # importing it ran its @oq.task decorators
        if registered is not None:
            return registered
        found = defined_function(module, module_name, qualname)
        self._remember_imported(path, found)
        return found

    def _known_path(self, path: str) -> Callable[..., Any] | None:
        fn = self._by_path.get(path)
        return self._imported.get(path) if fn is None else fn

    def _remember_imported(self, path: str, fn: Callable[..., Any]) -> None:
        """Keep what this registry's own policy let it import or load: not in the process-wide
        table, which would let another app's registry run it without allowing it."""
        with self._lock:
            if len(self._imported) < _MAX_IMPORTED:
                self._imported[path] = fn

    def _load_pickled(self, path: str) -> Callable[..., Any]:
        if not self.allow_pickled:
            raise FunctionNotAllowedError(
                "Refusing to run a pickled function: loading it would execute code from the "
                "queue. Choose the pickle serializer (serializer='pickle', OMNIQ_SERIALIZER) in "
                "the configuration of this worker and of the producers if you trust every "
                "writer to the queue."
            )
        known = self._known_path(path)  # pickled here, or loaded before
        if known is not None:
            return known
        from omniq.serialization import get_serializer

        try:
            fn = get_serializer("pickle").loads(base64.b64decode(path[len(PICKLED_PREFIX) :]))
        except (SerializationError, binascii.Error, ValueError) as exc:
            raise FunctionNotAllowedError(f"Cannot load a pickled function: {exc}") from exc
        if not callable(fn):
            raise FunctionNotAllowedError(f"The pickled function is {fn!r}, not callable")
        loaded: Callable[..., Any] = fn
        self._remember_imported(path, loaded)
        return loaded

    def __contains__(self, path: object) -> bool:
        return path in self._by_path


def _describe(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or "?"
    qualname = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{module}.{qualname}"


def _local_name(path: str) -> str:
    return path.rsplit("!", 1)[-1]


def _shown(path: str) -> str:
    return repr(path) if len(path) <= 200 else repr(path[:200] + "...")
