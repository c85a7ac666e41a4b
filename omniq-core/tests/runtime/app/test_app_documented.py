"""The examples of OmniQ's documented API (../shared/reference) that concern the runtime, run as
written: on the memory backend, and on SQLite (the default) where that backend is installed."""

from __future__ import annotations

import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from omniq import OmniQ

pytestmark = pytest.mark.timeout(60)


def installed(backend: str) -> bool:
    return any(ep.name == backend for ep in entry_points(group="omniq.backends"))


def requires(*backends: str) -> pytest.MarkDecorator:
    missing = [b for b in backends if not installed(b)]
    return pytest.mark.skipif(bool(missing), reason=f"backend(s) not installed: {missing}")


@pytest.fixture(params=["memory", "sqlite"])
def documented_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A clean working directory and environment; ``memory`` sets OMNIQ_TASK_QUEUE_TYPE, while
    ``sqlite`` leaves everything unset so ``OmniQ()`` falls back to ./omniq.db."""
    backend: str = request.param
    if not installed(backend):
        pytest.skip(f"the {backend} backend is not installed")
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("OMNIQ_"):
            monkeypatch.delenv(name)
    if backend == "memory":
        monkeypatch.setenv("OMNIQ_TASK_QUEUE_TYPE", "memory")
    return backend


def calculate_sum(a: int, b: int) -> int:
    return a + b


def test_retrieving_results(documented_env: str, tmp_path: Path) -> None:
    with OmniQ() as omniq:
        task_id = omniq.enqueue(calculate_sum, 10, 20)
        result = omniq.get_result(task_id, timeout=10)  # Wait up to 10 seconds for result
        print(f"Calculation result: {result}")
    assert result == 30
    assert (tmp_path / "omniq.db").exists() == (documented_env == "sqlite")


def test_event_logging(documented_env: str) -> None:
    from omniq.events import TaskEvent

    with OmniQ() as omniq:
        task_id = omniq.enqueue(lambda: "eventful task")
        events = omniq.get_events(task_id)
        for event in events:
            print(f"Event: {event.event_type} for task {event.task_id} at {event.timestamp}")
        assert omniq.get_result(task_id, timeout=10) == "eventful task"
        # the result is stored before the terminal event is written (result -> event -> ack),
        # so the COMPLETED event may trail the result by one storage call
        later = omniq.get_events(task_id)
        deadline = time.monotonic() + 10
        while later[-1].event_type != "completed" and time.monotonic() < deadline:
            time.sleep(0.01)
            later = omniq.get_events(task_id)
    assert all(isinstance(e, TaskEvent) for e in events)
    assert events[0].event_type == "enqueued"
    assert [e.event_type for e in later][-1] == "completed"


def test_lambda_result_without_with(documented_env: str) -> None:
    omniq = OmniQ()
    task_id = omniq.enqueue(lambda: "hello")
    result = omniq.get_result(task_id)
    print(f"Task result: {result}")
    omniq.close()
    assert result == "hello"


@requires("memory")
def test_memory_storage_names() -> None:
    from omniq.events import MemoryEventStorage
    from omniq.results import MemoryResultStorage

    result_storage = MemoryResultStorage()
    event_storage = MemoryEventStorage()
    with OmniQ(
        task_queue_url="memory://", result_storage=result_storage, event_storage=event_storage
    ) as oq:
        task_id = oq.enqueue(calculate_sum, 1, 2)
        assert oq.get_result(task_id, timeout=10) == 3
        assert oq.stores.results is result_storage
        assert oq.stores.events is event_storage


def test_missing_storage_backend_names_the_pip_line() -> None:
    if installed("nats"):
        pytest.skip("nats is installed here")
    with pytest.raises(ImportError, match=r"pip install \./omniq-nats \(in a clone of the OmniQ"):
        from omniq.results import NATSResultStorage  # noqa: F401


@requires("memory")
def test_backend_patterns_on_memory() -> None:
    from omniq import EventStore, ResultStore, TaskQueue
    from omniq.backend import MemoryBackend

    # Single backend pattern
    backend = MemoryBackend()
    oq = OmniQ.from_backend(backend, worker_type="thread_pool")
    with oq:
        assert oq.get_result(oq.enqueue(calculate_sum, 2, 3), timeout=10) == 5

    # Mixed backend pattern
    queue_backend, result_backend, event_backend = MemoryBackend(), MemoryBackend(), MemoryBackend()
    oq = OmniQ.from_backend(
        backend=queue_backend,
        result_store_backend=result_backend,
        event_store_backend=event_backend,
    )
    with oq:
        task_id = oq.enqueue(calculate_sum, 4, 5)
        assert oq.get_result(task_id, timeout=10) == 9
        assert oq.stores.results is result_backend.result_storage()

    # Component creation pattern
    backend = MemoryBackend()
    task_queue = TaskQueue.from_backend(backend, queues=["high", "medium", "low"])
    result_store = ResultStore.from_backend(backend)
    event_store = EventStore.from_backend(backend)
    with OmniQ(task_queue=task_queue, result_storage=result_store, event_storage=event_store) as oq:
        assert oq.queues == ("high", "medium", "low")
        task_id = oq.enqueue(calculate_sum, 1, 1, queue="low")
        assert oq.get_result(task_id, timeout=10) == 2


@requires("memory")
def test_development_config_all_memory() -> None:
    from omniq.models.config import OmniQConfig, StorageBackendConfig

    config = OmniQConfig(
        task_queue_backend=StorageBackendConfig(backend_type="memory"),
        result_storage_backend=StorageBackendConfig(backend_type="memory"),
        event_storage_backend=StorageBackendConfig(backend_type="memory"),
        schedule_storage_backend=StorageBackendConfig(backend_type="memory"),
    )
    with OmniQ(config=config) as omniq:
        assert omniq.get_result(omniq.enqueue(calculate_sum, 6, 7), timeout=10) == 13


@requires("sqlite")
def test_sqlite_backend_patterns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from omniq.backend import SQLiteBackend

    backend = SQLiteBackend({"db_path": "omniq.db"})
    oq = OmniQ.from_backend(backend, worker_type="thread_pool")
    with oq:
        assert oq.get_result(oq.enqueue(calculate_sum, 10, 20), timeout=10) == 30

    from omniq.backend.sqlite import SQLiteBackend as LegacySQLiteBackend

    backend = LegacySQLiteBackend()
    with OmniQ(backend=backend) as omniq:
        assert omniq.get_result(omniq.enqueue(calculate_sum, 1, 2), timeout=10) == 3
    assert (tmp_path / "omniq.db").exists()


@requires("sqlite", "file")
def test_storage_config_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from omniq.config import OmniQConfig

    config = OmniQConfig(
        result_storage_type="sqlite",
        event_storage_type="file",
        result_storage_path="my_app_results.db",  # Path for SQLite
        event_storage_base_dir="./app_events",  # Base directory for File storage
    )
    omniq = OmniQ(config=config)
    task_id = omniq.enqueue(lambda: "hello")
    result = omniq.get_result(task_id)
    omniq.close()
    assert result == "hello"
    assert (tmp_path / "my_app_results.db").exists()
