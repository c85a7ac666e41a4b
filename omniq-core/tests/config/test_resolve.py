"""resolve_storage_configs: configuration, then environment, then the task queue, then SQLite."""

from __future__ import annotations

from omniq.configuration import (
    DEFAULT_STORAGE,
    Source,
    explain_storage_configs,
    resolve_storage_configs,
)
from omniq.models.config import OmniQConfig, StorageBackendConfig
from omniq.storage import Role

REDIS = StorageBackendConfig("redis", "redis://localhost:6379/0")
MEMORY = StorageBackendConfig("memory")


def test_nothing_configured_gives_sqlite_in_the_working_directory() -> None:
    resolved = resolve_storage_configs(OmniQConfig(), {})
    assert resolved == dict.fromkeys(Role, DEFAULT_STORAGE)
    assert StorageBackendConfig("sqlite", "sqlite:///omniq.db") == DEFAULT_STORAGE
    assert resolve_storage_configs(None, {}) == resolved


def test_other_roles_fall_back_to_the_task_queue_backend() -> None:
    explained = explain_storage_configs(OmniQConfig(task_queue_backend=REDIS), {})
    assert {role: item.config for role, item in explained.items()} == dict.fromkeys(Role, REDIS)
    assert explained[Role.TASK_QUEUE].source is Source.CONFIG
    assert explained[Role.RESULT_STORAGE].source is Source.TASK_QUEUE


def test_environment_comes_before_the_task_queue() -> None:
    env = {"OMNIQ_EVENT_STORAGE_TYPE": "memory"}
    explained = explain_storage_configs(OmniQConfig(task_queue_backend=REDIS), env)
    assert explained[Role.EVENT_STORAGE].config == MEMORY
    assert explained[Role.EVENT_STORAGE].source is Source.ENVIRONMENT
    assert explained[Role.RESULT_STORAGE].config == REDIS


def test_configuration_comes_before_the_environment() -> None:
    env = {"OMNIQ_RESULT_STORAGE_TYPE": "memory", "OMNIQ_TASK_QUEUE_URL": "redis://other/1"}
    cfg = OmniQConfig(
        task_queue_backend=REDIS,
        result_storage_backend=StorageBackendConfig("file", config={"base_dir": "/r"}),
    )
    resolved = resolve_storage_configs(cfg, env)
    assert resolved[Role.TASK_QUEUE] == REDIS
    assert resolved[Role.RESULT_STORAGE] == StorageBackendConfig("file", config={"base_dir": "/r"})


def test_task_queue_from_the_environment_is_inherited() -> None:
    env = {"OMNIQ_TASK_QUEUE_URL": "redis://localhost:6379/0"}
    resolved = resolve_storage_configs(OmniQConfig(), env)
    assert resolved == dict.fromkeys(Role, REDIS)


def test_roles_without_a_task_queue_config_use_sqlite() -> None:
    cfg = OmniQConfig(result_storage_type="sqlite", result_storage_path="r.db")
    explained = explain_storage_configs(cfg, {})
    assert explained[Role.TASK_QUEUE].config == DEFAULT_STORAGE
    assert explained[Role.TASK_QUEUE].source is Source.DEFAULT
    assert explained[Role.RESULT_STORAGE].config == StorageBackendConfig(
        "sqlite", config={"database_path": "r.db"}
    )
    assert explained[Role.SCHEDULE_STORAGE].source is Source.DEFAULT


def test_reads_os_environ_by_default(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("OMNIQ_SCHEDULE_STORAGE_TYPE", "memory")
    assert resolve_storage_configs(OmniQConfig())[Role.SCHEDULE_STORAGE] == MEMORY
