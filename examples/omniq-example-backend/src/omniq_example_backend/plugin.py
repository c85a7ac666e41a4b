"""The hook implementations: the ``example`` backend gets all four roles from the kit."""

from __future__ import annotations

from omniq.kit import kit_hooks

from omniq_example_backend.options import ExampleOptions
from omniq_example_backend.store import DictStore

hooks = kit_hooks(
    "example",
    DictStore,
    lambda options: DictStore(),  # one store per backend object (load_backend call)
    options=ExampleOptions,
    url_schemes=("example",),
    description="In-process backend on the kit (dicts under a lock)",
)
omniq_task_queues = hooks.omniq_task_queues
omniq_result_storages = hooks.omniq_result_storages
omniq_event_storages = hooks.omniq_event_storages
omniq_schedule_storages = hooks.omniq_schedule_storages
