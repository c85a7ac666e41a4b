"""Lifecycle hooks: plugins that observe tasks (for metrics or tracing) without touching them.

A lifecycle plugin is any object or module with functions marked :data:`omniq.hookimpl` named
like the hooks below; register it with ``AsyncOmniQ(..., plugins=[obj])`` / ``Worker(hooks=
LifecycleHooks([obj]))``, or publish it under the ``omniq.plugins`` entry point group so every
worker loads it. Workers call hooks after the fact, outside any storage call or lock; each
implementation is called on its own and an exception in one is logged, never raised: a broken
metrics plugin can never crash a worker or stop another plugin.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

import pluggy

from omniq.logging import get_logger
from omniq.models.result import TaskError
from omniq.models.task import Task
from omniq.plugins.hookspecs import PROJECT_NAME, hookspec

__all__ = ["ENTRY_POINT_GROUP", "LifecycleHooks", "LifecycleSpecs"]

ENTRY_POINT_GROUP = "omniq.plugins"
log = get_logger(__name__)


class LifecycleSpecs:
    """The lifecycle hooks. Every argument is passed by keyword; implement only those you need."""

    @hookspec
    def omniq_task_started(self, task: Task, attempt: int, worker_id: str) -> None:
        """A worker started attempt ``attempt`` of ``task``."""

    @hookspec
    def omniq_task_completed(
        self, task: Task, attempt: int, worker_id: str, duration: float
    ) -> None:
        """``task`` returned after ``duration`` seconds; its result is stored."""

    @hookspec
    def omniq_task_failed(
        self, task: Task, attempt: int, worker_id: str, error: TaskError, will_retry: bool
    ) -> None:
        """``task`` raised (or timed out); ``will_retry`` tells whether another attempt follows."""

    @hookspec
    def omniq_task_cancelled(self, task: Task, attempt: int, worker_id: str) -> None:
        """A running ``task`` was cancelled on request."""

    @hookspec
    def omniq_task_dead_lettered(self, task_id: str, queue: str, reason: str) -> None:
        """A task went to the dead letters (out of attempts, refused, or its lease expired)."""


class LifecycleHooks:
    """Calls the lifecycle hooks of the registered plugins, each in its own guard."""

    def __init__(self, plugins: Iterable[object] = (), *, load_entry_points: bool = True) -> None:
        self._manager = pluggy.PluginManager(PROJECT_NAME)
        self._manager.add_hookspecs(LifecycleSpecs)
        for plugin in plugins:
            self._manager.register(plugin)
        if load_entry_points:
            self._load_entry_points()
        self.active = bool(self._manager.get_plugins())
        """False when no plugin is registered: workers then skip hook calls entirely."""

    def _load_entry_points(self) -> None:
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                self._manager.register(entry_point.load(), name=entry_point.name)
            except Exception as exc:
                log.warning("lifecycle plugin not loaded", plugin=entry_point.name, error=repr(exc))

    def register(self, plugin: object) -> None:
        self._manager.register(plugin)
        self.active = True

    def call(self, hook: str, **arguments: Any) -> None:
        """Call every implementation of ``hook``; log and swallow what they raise."""
        if not self.active:
            return
        caller = getattr(self._manager.hook, hook)
        for implementation in caller.get_hookimpls():
            try:
                implementation.function(
                    **{name: arguments[name] for name in implementation.argnames}
                )
            except Exception as exc:
                log.warning(
                    "lifecycle hook failed",
                    hook=hook,
                    plugin=implementation.plugin_name,
                    error=repr(exc),
                )
