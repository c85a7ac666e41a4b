"""Task functions and calls: ``@oq.task`` wrappers, and :func:`call` for ``enqueue_many``.

::

    from omniq.tasks import call

    oq.enqueue_many([call(resize, path, width=200, queue="images") for path in paths])
"""

from omniq.runtime.task_function import AsyncTaskFunction, Call, TaskFunction, call

__all__ = ["AsyncTaskFunction", "Call", "TaskFunction", "call"]
