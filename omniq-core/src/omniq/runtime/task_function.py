"""``@oq.task``: a function bound to an app, with default options, enqueued by ``.delay()``.

Calling the wrapper runs the function right here; ``.delay(*args, **kwargs)`` (alias ``.send``)
enqueues it with the decorator's options and passes every keyword to the function;
``.enqueue(*args, **options_and_kwargs)`` accepts per-call options like ``oq.enqueue`` does;
``.call(...)`` makes a :class:`Call` for ``enqueue_many``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from attrs import field, frozen

from omniq.runtime.building import TaskOptions, split_options
from omniq.runtime.registry import TASK_FUNCTION_ATTR

if TYPE_CHECKING:
    from omniq.runtime.async_app import AsyncOmniQ
    from omniq.runtime.sync_app import OmniQ

__all__ = ["AsyncTaskFunction", "Call", "TaskFunction", "call"]

P = ParamSpec("P")
R = TypeVar("R")


@frozen
class Call:
    """One call to enqueue: a function (or task function), its arguments and per-call options."""

    func: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(factory=dict)
    options: Mapping[str, Any] = field(factory=dict)


def call(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Call:
    """A :class:`Call` for ``enqueue_many``; keyword arguments are split like ``enqueue``'s."""
    options, kwargs = split_options(kwargs)
    return Call(func, args, kwargs, options)


class _BaseTaskFunction(Generic[P, R]):
    def __init__(self, fn: Callable[P, R], path: str, options: TaskOptions) -> None:
        self.fn = fn
        self.path = path
        """The name tasks use for this function."""
        self.options = options
        setattr(self, TASK_FUNCTION_ATTR, fn)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function now, in this process."""
        return self.fn(*args, **kwargs)

    def call(self, *args: Any, **kwargs: Any) -> Call:
        """A :class:`Call` of this task for ``enqueue_many`` (options allowed as in ``enqueue``)."""
        options, kwargs = split_options(kwargs)
        return Call(self, args, kwargs, options)

    def __repr__(self) -> str:
        return f"<task {self.path}>"


class TaskFunction(_BaseTaskFunction[P, R]):
    """A task function of the sync :class:`~omniq.OmniQ` app."""

    def __init__(self, app: OmniQ, fn: Callable[P, R], path: str, options: TaskOptions) -> None:
        super().__init__(fn, path, options)
        self.app = app

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Enqueue a call with the task's default options; returns the task id."""
        return self.app._enqueue_prepared(self, args, kwargs, {})

    send = delay

    def enqueue(self, *args: Any, **kwargs: Any) -> str:
        """Enqueue with per-call options (``queue=``, ``delay=``, ...; see ``OmniQ.enqueue``)."""
        options, kwargs = split_options(kwargs)
        return self.app._enqueue_prepared(self, args, kwargs, options)


class AsyncTaskFunction(_BaseTaskFunction[P, R]):
    """A task function of :class:`~omniq.AsyncOmniQ`: ``await fn.delay(...)``."""

    def __init__(
        self, app: AsyncOmniQ, fn: Callable[P, R], path: str, options: TaskOptions
    ) -> None:
        super().__init__(fn, path, options)
        self.app = app

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[str]:
        """Enqueue a call with the task's default options; returns the task id."""
        return self.app._enqueue_prepared(self, args, kwargs, {})

    send = delay

    def enqueue(self, *args: Any, **kwargs: Any) -> Awaitable[str]:
        """Enqueue with per-call options (``queue=``, ``delay=``, ...)."""
        options, kwargs = split_options(kwargs)
        return self.app._enqueue_prepared(self, args, kwargs, options)
