"""OmniQConfig.from_env: the documented variables, typos, bad values."""

from __future__ import annotations

import pytest
from omniq.errors import ConfigurationError
from omniq.models.config import OmniQConfig, StorageBackendConfig


def test_documented_environment() -> None:
    env = {
        "OMNIQ_TASK_QUEUE_TYPE": "sqlite",
        "OMNIQ_TASK_QUEUE_URL": "sqlite:///tasks.db",
        "OMNIQ_RESULT_STORAGE_TYPE": "file",
        "OMNIQ_RESULT_STORAGE_URL": "./results",
        "OMNIQ_EVENT_STORAGE_TYPE": "memory",
        "OMNIQ_SCHEDULE_STORAGE_TYPE": "sqlite",
        "OMNIQ_SCHEDULE_STORAGE_URL": "sqlite:///schedules.db",
    }
    cfg = OmniQConfig.from_env(env)
    assert cfg.task_queue_backend == StorageBackendConfig("sqlite", "sqlite:///tasks.db")
    assert cfg.result_storage_backend == StorageBackendConfig("file", "./results")
    assert cfg.event_storage_backend == StorageBackendConfig("memory")
    assert cfg.schedule_storage_backend == StorageBackendConfig("sqlite", "sqlite:///schedules.db")


def test_runtime_settings_from_environment() -> None:
    cfg = OmniQConfig.from_env(
        {
            "OMNIQ_PROJECT_NAME": "shop",
            "OMNIQ_ALLOWED_MODULES": "shop.tasks, shop.jobs",
            "OMNIQ_SERIALIZER": "msgpack",
            "OMNIQ_WORKER_TYPE": "thread_pool",
            "OMNIQ_WORKERS": "4",
            "OMNIQ_DEFAULT_TTL": "3600",
            "OMNIQ_LOG_LEVEL": "debug",
            "OMNIQ_MAX_PAYLOAD_SIZE": "2_097_152",
            "OMNIQ_QUEUES": "high,low",
            "OMNIQ_LEASE_SECONDS": "60",
            "OMNIQ_SCHEDULER_ENABLED": "false",
            "OMNIQ_SHUTDOWN_GRACE": "5",
            "OMNIQ_DEFAULT_MAX_RETRIES": "3",
            "OMNIQ_RETRY_BACKOFF": "0.5",
            "OMNIQ_DISABLE_PLUGINS": "example",
            "OMNIQ_TEST_REDIS_PORT": "6380",  # unrelated to the configuration: left alone
            "PATH": "/bin",
        }
    )
    assert cfg.project_name == "shop"
    assert cfg.allowed_modules == ("shop.tasks", "shop.jobs")
    assert (cfg.serializer, cfg.worker_type, cfg.workers) == ("msgpack", "thread_pool", 4)
    assert (cfg.default_ttl, cfg.log_level, cfg.max_payload_size) == (3600.0, "DEBUG", 2097152)
    assert cfg.queues == ("high", "low")
    assert (cfg.lease_seconds, cfg.scheduler_enabled, cfg.shutdown_grace) == (60.0, False, 5.0)
    assert (cfg.default_max_retries, cfg.retry_backoff) == (3, 0.5)


def test_empty_environment_gives_defaults() -> None:
    assert OmniQConfig.from_env({}) == OmniQConfig()
    assert OmniQConfig.from_env({"OMNIQ_WORKERS": "  "}) == OmniQConfig()
    assert OmniQConfig.from_env({"OMNIQ_DEFAULT_TTL": "none"}).default_ttl is None


def test_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIQ_WORKERS", "7")
    assert OmniQConfig.from_env().workers == 7


def test_url_alone_selects_the_backend() -> None:
    cfg = OmniQConfig.from_env({"OMNIQ_TASK_QUEUE_URL": "redis://:pw@localhost:6379/0"})
    assert cfg.task_queue_backend == StorageBackendConfig("redis", "redis://:pw@localhost:6379/0")


def test_options_as_json() -> None:
    cfg = OmniQConfig.from_env(
        {
            "OMNIQ_RESULT_STORAGE_TYPE": "file",
            "OMNIQ_RESULT_STORAGE_OPTIONS": '{"base_dir": "/r", "serialization_format": "json"}',
        }
    )
    assert cfg.result_storage_backend == StorageBackendConfig(
        "file", config={"base_dir": "/r", "serialization_format": "json"}
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OMNIQ_WORKERS": "ten"}, "Invalid OMNIQ_WORKERS 'ten': use an integer"),
        ({"OMNIQ_DEFAULT_TTL": "1h"}, "Invalid OMNIQ_DEFAULT_TTL '1h': use a number of seconds"),
        (
            {"OMNIQ_WORKER_TYPE": "threads"},
            "OMNIQ_WORKER_TYPE: Invalid worker_type 'threads': use one of async, thread_pool, "
            "process_pool. Did you mean 'thread_pool'?",
        ),
        (
            {"OMNIQ_SCHEDULER_ENABLED": "maybe"},
            "Invalid OMNIQ_SCHEDULER_ENABLED 'maybe': use one of 1, true, yes, on, 0, false, no, "
            "off",
        ),
        (
            {"OMNIQ_TASK_QUEUE_TYPE": "bad name"},
            "OMNIQ_TASK_QUEUE_TYPE: Invalid backend_type 'bad name': use a backend name such as "
            "sqlite, memory, file, redis, postgres or nats (lowercase letters, digits, '_' and "
            "'-')",
        ),
        (
            {"OMNIQ_EVENT_STORAGE_OPTIONS": '{"a": 1}'},
            "OMNIQ_EVENT_STORAGE_OPTIONS is set but OMNIQ_EVENT_STORAGE_TYPE and "
            "OMNIQ_EVENT_STORAGE_URL are not: name the backend",
        ),
        (
            {"OMNIQ_EVENT_STORAGE_TYPE": "file", "OMNIQ_EVENT_STORAGE_OPTIONS": "[1]"},
            "Invalid OMNIQ_EVENT_STORAGE_OPTIONS [1]: use a JSON object of options",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig.from_env(env)
    assert str(err.value) == message


def test_options_that_are_not_json() -> None:
    with pytest.raises(ConfigurationError, match=r"^Invalid OMNIQ_TASK_QUEUE_OPTIONS: not JSON"):
        OmniQConfig.from_env({"OMNIQ_TASK_QUEUE_TYPE": "redis", "OMNIQ_TASK_QUEUE_OPTIONS": "{x"})


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("OMNIQ_TASK_QUEUE_TYP", "OMNIQ_TASK_QUEUE_TYPE"),
        ("OMNIQ_RESULT_STORAGE_URI", "OMNIQ_RESULT_STORAGE_URL"),
        ("OMNIQ_WORKER", "OMNIQ_WORKERS"),
        ("OMNIQ_ALLOWED_MODULE", "OMNIQ_ALLOWED_MODULES"),
        ("OMNIQ_DISABLE_PLUGIN", "OMNIQ_DISABLE_PLUGINS"),
    ],
)
def test_typos_of_known_variables_are_errors(typo: str, meant: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig.from_env({typo: "x"})
    assert str(err.value).startswith(f"Unknown environment variable {typo}: did you mean {meant}?")


def test_credentials_are_masked_in_env_errors() -> None:
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig.from_env(
            {"OMNIQ_TASK_QUEUE_TYPE": "sqlite", "OMNIQ_TASK_QUEUE_URL": "redis://:hunter2@h/0"}
        )
    assert "hunter2" not in str(err.value)
    assert str(err.value).startswith("OMNIQ_TASK_QUEUE_URL: Invalid url 'redis://:***@h/0'")
