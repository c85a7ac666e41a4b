"""OmniQConfig.from_yaml: the documented file, the older per-role shape, errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omniq.errors import ConfigurationError
from omniq.models.config import OmniQConfig, StorageBackendConfig

DOCUMENTED = """\
# config.yaml
project_name: "my_omniq_app"

task_queue_backend:
  backend_type: "sqlite"
  url: "sqlite:///tasks.db"

result_storage_backend:
  backend_type: "file"
  config:
    base_dir: "./results"
    serialization_format: "json"

event_storage_backend:
  backend_type: "memory"

schedule_storage_backend:
  backend_type: "sqlite"
  url: "sqlite:///schedules.db"

default_ttl: 3600
log_level: "INFO"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_documented_yaml(tmp_path: Path) -> None:
    cfg = OmniQConfig.from_yaml(_write(tmp_path, DOCUMENTED))
    assert cfg == OmniQConfig(
        project_name="my_omniq_app",
        task_queue_backend=StorageBackendConfig("sqlite", "sqlite:///tasks.db"),
        result_storage_backend=StorageBackendConfig(
            "file", config={"base_dir": "./results", "serialization_format": "json"}
        ),
        event_storage_backend=StorageBackendConfig("memory"),
        schedule_storage_backend=StorageBackendConfig("sqlite", "sqlite:///schedules.db"),
        default_ttl=3600,
        log_level="INFO",
    )


def test_older_per_role_shape(tmp_path: Path) -> None:
    text = """\
task_queue:
  type: redis
  host: localhost
  port: 6379
  db: 0
result_storage:
  type: sqlite
  database_path: ./data/results.db
event_storage:
  type: postgres
  dsn: postgresql://user:password@host:5432/events
schedule_storage:
  type: nats
  servers:
    - nats://localhost:4222
    - nats://nats.example.com:4222
"""
    cfg = OmniQConfig.from_yaml(_write(tmp_path, text))
    assert cfg.task_queue_backend == StorageBackendConfig(
        "redis", config={"host": "localhost", "port": 6379, "db": 0}
    )
    assert cfg.result_storage_backend == StorageBackendConfig(
        "sqlite", config={"database_path": "./data/results.db"}
    )
    assert cfg.event_storage_backend == StorageBackendConfig(
        "postgres", config={"dsn": "postgresql://user:password@host:5432/events"}
    )
    assert cfg.schedule_storage_backend is not None
    assert cfg.schedule_storage_backend.config["servers"] == [
        "nats://localhost:4222",
        "nats://nats.example.com:4222",
    ]


def test_to_dict_writes_back_as_yaml(tmp_path: Path) -> None:
    cfg = OmniQConfig.from_yaml(_write(tmp_path, DOCUMENTED))
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(cfg.to_dict()), encoding="utf-8")
    assert OmniQConfig.from_yaml(again) == cfg


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "project_name: x\nlog_levle: DEBUG\n")
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig.from_yaml(path)
    assert str(err.value).startswith(
        f"{path}: key 'log_levle': Unknown configuration key 'log_levle'. Did you mean 'log_level'?"
    )


def test_bad_value_names_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "worker_type: threads\n")
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig.from_yaml(path)
    assert str(err.value) == (
        f"{path}: key 'worker_type': Invalid worker_type 'threads': use one of async, "
        "thread_pool, process_pool. Did you mean 'thread_pool'?"
    )


def test_nested_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "event_storage_backend:\n  backend_typ: memory\n")
    with pytest.raises(ConfigurationError) as err:
        OmniQConfig.from_yaml(path)
    assert str(err.value).startswith(f"{path}: key 'event_storage_backend.backend_typ': ")
    assert "Did you mean 'backend_type'?" in str(err.value)


def test_not_yaml_or_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"config\.yaml: not valid YAML"):
        OmniQConfig.from_yaml(_write(tmp_path, "a: [1,\n"))
    with pytest.raises(
        ConfigurationError, match="the top level must be a mapping of option names, not list"
    ):
        OmniQConfig.from_yaml(_write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigurationError, match="Cannot read the configuration file"):
        OmniQConfig.from_yaml(tmp_path / "missing.yaml")


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert OmniQConfig.from_yaml(_write(tmp_path, "# nothing\n")) == OmniQConfig()


def test_yaml_never_constructs_python_objects(tmp_path: Path) -> None:
    path = _write(tmp_path, "project_name: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        OmniQConfig.from_yaml(path)
