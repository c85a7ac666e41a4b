"""OmniQConfig from code: the documented forms, the older flat forms, validation, masking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from omniq.config import OmniQConfig as ConfigFromShortPath
from omniq.errors import ConfigurationError
from omniq.models.config import OmniQConfig, StorageBackendConfig

SECONDS = "a number of seconds from 0 to 315,360,000 (10 years)"
POSITIVE_SECONDS = "a number of seconds > 0 and at most 315,360,000 (10 years)"
NO_WORKER = "(0: no worker)"


def test_both_import_paths_are_the_same_class() -> None:
    import omniq

    assert ConfigFromShortPath is OmniQConfig
    assert omniq.OmniQConfig is OmniQConfig
    assert omniq.StorageBackendConfig is StorageBackendConfig


def test_defaults() -> None:
    cfg = OmniQConfig()
    assert cfg.project_name == "omniq"
    assert cfg.task_queue_backend is None
    assert cfg.default_ttl == 86400.0
    assert cfg.log_level == "INFO"
    assert cfg.serializer == "json"
    assert cfg.allowed_modules == ()
    assert cfg.max_payload_size == 1024 * 1024
    assert (cfg.worker_type, cfg.workers, cfg.queues) == ("async", 10, ("default",))
    assert (cfg.lease_seconds, cfg.scheduler_enabled, cfg.shutdown_grace) == (30.0, True, 30.0)
    assert (cfg.default_max_retries, cfg.retry_backoff) == (0, 1.0)


def test_programmatic_per_role_form() -> None:
    cfg = OmniQConfig(
        task_queue_backend=StorageBackendConfig(backend_type="sqlite", url="sqlite:///tasks.db"),
        result_storage_backend=StorageBackendConfig(
            backend_type="file", config={"base_dir": "./results", "serialization_format": "json"}
        ),
        event_storage_backend=StorageBackendConfig(backend_type="memory"),
        schedule_storage_backend=StorageBackendConfig(
            backend_type="sqlite", url="sqlite:///schedules.db"
        ),
    )
    assert cfg.result_storage_backend is not None
    assert cfg.result_storage_backend.config["base_dir"] == "./results"
    assert cfg.storage_backend("event_storage") == StorageBackendConfig("memory")


def test_role_fields_accept_urls_and_mappings() -> None:
    cfg = OmniQConfig(
        task_queue_backend="redis://localhost:6379/0",
        result_storage_backend={"backend_type": "sqlite", "url": "sqlite:///r.db"},
        event_storage_backend="memory",
    )
    assert cfg.task_queue_backend == StorageBackendConfig("redis", "redis://localhost:6379/0")
    assert cfg.result_storage_backend == StorageBackendConfig("sqlite", "sqlite:///r.db")
    assert cfg.event_storage_backend == StorageBackendConfig("memory")


def test_flat_form_from_backends_page() -> None:
    cfg = OmniQConfig(
        task_queue_type="redis",
        result_storage_type="sqlite",
        event_storage_type="postgresql",
        redis_host="localhost",
        redis_port=6379,
        sqlite_database_path="omniq_results.db",
        postgresql_dsn="postgresql://user:password@localhost:5432/omniq_events",
    )
    assert cfg.task_queue_backend == StorageBackendConfig(
        "redis", config={"host": "localhost", "port": 6379}
    )
    assert cfg.result_storage_backend == StorageBackendConfig(
        "sqlite", config={"database_path": "omniq_results.db"}
    )
    assert cfg.event_storage_backend == StorageBackendConfig(
        "postgres", config={"dsn": "postgresql://user:password@localhost:5432/omniq_events"}
    )
    assert cfg.schedule_storage_backend is None
    assert "password@" not in repr(cfg)


def test_flat_form_from_storage_page() -> None:
    cfg = OmniQConfig(
        result_storage_type="sqlite",
        event_storage_type="file",
        result_storage_path="my_app_results.db",
        event_storage_base_dir="./app_events",
    )
    assert cfg.task_queue_backend is None
    assert cfg.result_storage_backend == StorageBackendConfig(
        "sqlite", config={"database_path": "my_app_results.db"}
    )
    assert cfg.event_storage_backend == StorageBackendConfig(
        "file", config={"base_dir": "./app_events"}
    )


def test_backend_options_apply_to_every_role_using_that_backend() -> None:
    cfg = OmniQConfig(
        task_queue_type="redis",
        result_storage_type="redis",
        redis_host="cache",
        redis_db=2,
        result_storage_db=3,
    )
    assert cfg.task_queue_backend == StorageBackendConfig(
        "redis", config={"host": "cache", "db": 2}
    )
    # a role's own option wins over the backend-wide one
    assert cfg.result_storage_backend == StorageBackendConfig(
        "redis", config={"host": "cache", "db": 3}
    )


def test_flat_url_and_options_forms() -> None:
    cfg = OmniQConfig(
        task_queue_url="redis://localhost/0",
        result_storage_type="file",
        result_storage_options={"base_dir": "/r", "serialization_format": "msgpack"},
    )
    assert cfg.task_queue_backend == StorageBackendConfig(url="redis://localhost/0")
    assert cfg.result_storage_backend == StorageBackendConfig(
        "file", config={"base_dir": "/r", "serialization_format": "msgpack"}
    )


def test_flat_option_without_role_type() -> None:
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig(result_storage_path="r.db")
    assert str(err.value) == (
        "result_storage_path is set but result_storage_type is not: name the backend of the "
        "result_storage role (such as result_storage_type='sqlite')"
    )


def test_flat_and_per_role_forms_conflict() -> None:
    with pytest.raises(
        ConfigurationError, match="task_queue_type conflicts with task_queue_backend"
    ):
        OmniQConfig(task_queue_backend=StorageBackendConfig("memory"), task_queue_type="redis")


def test_backend_option_for_an_unused_backend() -> None:
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig(task_queue_type="sqlite", redis_host="localhost")
    assert str(err.value) == (
        "redis_host configures the redis backend, but no storage role uses it: set a role's "
        "backend (such as task_queue_type='redis') or remove redis_host"
    )


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig(worker_tpye="thread_pool")
    message = str(err.value)
    assert message.startswith(
        "Unknown configuration key 'worker_tpye'. Did you mean 'worker_type'?"
    )
    assert "'<backend>_<option>'" in message


def test_unknown_key_masks_secret_values() -> None:
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig(pasword="hunter2", task_queue_type="memory")
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"worker_type": "threads"},
            "Invalid worker_type 'threads': use one of async, thread_pool, process_pool. "
            "Did you mean 'thread_pool'?",
        ),
        (
            {"worker_type": "gevent"},
            "Invalid worker_type 'gevent': use one of async, thread_pool, process_pool.",
        ),
        ({"workers": -1}, f"Invalid workers -1: use an integer from 0 to 10,000 {NO_WORKER}"),
        ({"workers": True}, f"Invalid workers True: use an integer from 0 to 10,000 {NO_WORKER}"),
        (
            {"max_payload_size": 0},
            "Invalid max_payload_size 0: use an integer from 1 to 536,870,912 bytes",
        ),
        ({"default_ttl": -5}, f"Invalid default_ttl -5: use {SECONDS}, or None for no expiry"),
        ({"lease_seconds": 0}, f"Invalid lease_seconds 0: use {POSITIVE_SECONDS}"),
        (
            {"log_level": "LOUD"},
            "Invalid log_level 'LOUD': use one of DEBUG, INFO, WARNING, ERROR, CRITICAL.",
        ),
        ({"scheduler_enabled": "yes"}, "Invalid scheduler_enabled 'yes': use True or False"),
        ({"project_name": ""}, "Invalid project_name '': use a non-empty string"),
        (
            {"allowed_modules": ["my app"]},
            "Invalid allowed_modules ['my app']: use module prefixes such as ('myapp.tasks',) "
            "or the string 'myapp.tasks,otherapp'",
        ),
    ],
)
def test_bad_values_name_field_value_and_allowed(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message
    assert isinstance(err.value, ValueError)


def test_serializer_is_checked_against_the_registry() -> None:
    assert OmniQConfig(serializer="msgpack").serializer == "msgpack"
    with pytest.raises(
        ConfigurationError,
        match=r"Invalid serializer 'jsn': use one of .*json.* Did you mean 'json'\?",
    ):
        OmniQConfig(serializer="jsn")


def test_bad_queue_names() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^Invalid queues \['a b'\]: Invalid queue name 'a b'"
    ):
        OmniQConfig(queues=["a b"])
    with pytest.raises(ConfigurationError, match="Queue names repeat"):
        OmniQConfig(queues=["a", "a"])


def test_conversions() -> None:
    cfg = OmniQConfig(
        allowed_modules="myapp.tasks, other",
        queues="high,low",
        log_level="debug",
        default_ttl=timedelta(hours=1),
        shutdown_grace=5,
    )
    assert cfg.allowed_modules == ("myapp.tasks", "other")
    assert cfg.queues == ("high", "low")
    assert cfg.log_level == "DEBUG"
    assert cfg.default_ttl == 3600.0
    assert OmniQConfig(default_ttl=None).default_ttl is None
    assert OmniQConfig(log_level=10).log_level == "DEBUG"


def test_nested_role_errors_name_the_role() -> None:
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig(task_queue_backend={"backend_type": "sqlite", "urll": "x"})
    assert str(err.value).startswith(
        "task_queue_backend: Unknown key 'urll' in task_queue_backend: use backend_type, url and "
        "config (backend options go inside config). Did you mean 'url'?"
    )
    assert "Did you mean 'url'?" in str(err.value)


def test_frozen_and_equal() -> None:
    cfg = OmniQConfig(workers=2)
    with pytest.raises(AttributeError):
        cfg.workers = 3  # type: ignore[misc]
    assert cfg == OmniQConfig(workers=2)


def test_repr_masks_credentials() -> None:
    cfg = OmniQConfig(
        task_queue_backend=StorageBackendConfig(url="redis://:topsecret@cache:6379/0"),
        event_storage_backend=StorageBackendConfig(
            "postgres", config={"password": "topsecret", "host": "db"}
        ),
    )
    assert "topsecret" not in repr(cfg)
    assert "topsecret" not in str(cfg)
    assert "redis://:***@cache:6379/0" in repr(cfg)


def test_dict_round_trip() -> None:
    cfg = OmniQConfig(
        project_name="shop",
        task_queue_backend=StorageBackendConfig(
            "redis", "redis://localhost/0", {"max_connections": 5}
        ),
        event_storage_backend=StorageBackendConfig("memory"),
        allowed_modules=("shop.tasks",),
        queues=("high", "low"),
        default_ttl=None,
    )
    data = cfg.to_dict()
    assert data["queues"] == ["high", "low"]
    assert data["task_queue_backend"] == {
        "backend_type": "redis",
        "url": "redis://localhost/0",
        "config": {"max_connections": 5},
    }
    assert OmniQConfig.from_dict(data) == cfg


def test_from_dict_rejects_unknown_keys_and_non_mappings() -> None:
    with pytest.raises(ConfigurationError, match="Unknown configuration key 'worker'"):
        OmniQConfig.from_dict({"worker": 3})
    with pytest.raises(ConfigurationError, match="use a mapping"):
        OmniQConfig.from_dict(["x"])  # type: ignore[arg-type]


def test_pickle_copy_and_evolve() -> None:
    import copy
    import pickle

    import attrs

    cfg = OmniQConfig(
        task_queue_backend=StorageBackendConfig("redis", "redis://h/0", {"max_connections": 3}),
        workers=2,
    )
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert copy.deepcopy(cfg) == cfg
    changed = attrs.evolve(cfg, workers=5)
    assert changed.workers == 5
    assert changed.task_queue_backend == cfg.task_queue_backend
    with pytest.raises(ConfigurationError, match="Invalid workers -1"):
        attrs.evolve(cfg, workers=-1)


def test_documented_deployment_scenarios() -> None:
    development = OmniQConfig(
        task_queue_backend=StorageBackendConfig(backend_type="memory"),
        result_storage_backend=StorageBackendConfig(backend_type="memory"),
        event_storage_backend=StorageBackendConfig(backend_type="memory"),
        schedule_storage_backend=StorageBackendConfig(backend_type="memory"),
    )
    assert development.event_storage_backend == StorageBackendConfig("memory")
    optimized = OmniQConfig(
        task_queue_backend=StorageBackendConfig(backend_type="sqlite", url="sqlite:///tasks.db"),
        result_storage_backend=StorageBackendConfig(
            backend_type="file", config={"base_dir": "/var/omniq/results"}
        ),
        event_storage_backend=StorageBackendConfig(
            backend_type="redis", url="redis://localhost:6379/1"
        ),
        schedule_storage_backend=StorageBackendConfig(
            backend_type="postgres", url="postgresql://user:pass@localhost:5432/schedules"
        ),
    )
    assert optimized.schedule_storage_backend is not None
    assert optimized.schedule_storage_backend.backend_type == "postgres"
    assert "user:pass@" not in repr(optimized)
