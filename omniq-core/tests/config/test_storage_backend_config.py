"""StorageBackendConfig: every form the documentation shows, inference, validation, masking."""

from __future__ import annotations

import pytest
from omniq.errors import ConfigurationError
from omniq.models.config import StorageBackendConfig


def test_documented_forms_construct() -> None:
    sqlite = StorageBackendConfig(
        backend_type="sqlite",
        url="sqlite:///database.db",
        config={
            "timeout": 30.0,
            "journal_mode": "WAL",
            "synchronous": "NORMAL",
            "cache_size": -64000,
        },
    )
    assert sqlite.backend_type == "sqlite"
    assert sqlite.config["journal_mode"] == "WAL"
    plain_path = StorageBackendConfig(backend_type="sqlite", url="database.db")
    assert plain_path.url == "database.db"
    file = StorageBackendConfig(
        backend_type="file",
        config={
            "base_dir": "./data",
            "serialization_format": "json",
            "fsspec_uri": None,
            "storage_options": {},
        },
    )
    assert file.url is None
    assert file.config["base_dir"] == "./data"
    assert StorageBackendConfig(backend_type="memory").config == {}
    redis = StorageBackendConfig(
        backend_type="redis",
        url="redis://localhost:6379/0",
        config={
            "host": "localhost",
            "port": 6379,
            "database": 0,
            "password": None,
            "max_connections": 10,
        },
    )
    assert redis.load_options()["url"] == "redis://localhost:6379/0"
    pg = StorageBackendConfig(
        backend_type="postgres",
        url="postgresql://user:pass@localhost:5432/omniq",
        config={"username": "user", "password": "pass"},
    )
    assert pg.backend_type == "postgres"


def test_backend_type_may_be_omitted_when_the_url_has_a_scheme() -> None:
    assert StorageBackendConfig(url="redis://h:6379/1").backend_type == "redis"
    assert StorageBackendConfig(url="postgresql://h/db").backend_type == "postgres"
    # equal to the spelled-out form, so both share one backend
    assert StorageBackendConfig(url="sqlite:///x.db") == StorageBackendConfig(
        "sqlite", "sqlite:///x.db"
    )
    # a third-party scheme stays for the plugin system to resolve
    other = StorageBackendConfig(url="mongodb://h/db")
    assert other.backend_type is None
    assert other.name_or_url == "mongodb://h/db"
    assert "url" not in other.load_options()


def test_postgresql_is_the_older_spelling_of_postgres() -> None:
    assert StorageBackendConfig("postgresql").backend_type == "postgres"
    assert StorageBackendConfig("SQLite").backend_type == "sqlite"


def test_missing_name_and_url() -> None:
    with pytest.raises(ConfigurationError) as err:
        StorageBackendConfig()
    assert str(err.value) == (
        "StorageBackendConfig needs a backend_type (such as 'sqlite') or a url with a scheme "
        "(such as 'sqlite:///omniq.db')"
    )
    with pytest.raises(ValueError, match=r"url='\./results'\) needs a backend_type"):
        StorageBackendConfig(url="./results")


def test_bad_backend_type_names_value_and_allowed() -> None:
    with pytest.raises(ConfigurationError) as err:
        StorageBackendConfig(backend_type="my backend!")
    assert str(err.value) == (
        "Invalid backend_type 'my backend!': use a backend name such as sqlite, memory, file, "
        "redis, postgres or nats (lowercase letters, digits, '_' and '-')"
    )


def test_scheme_of_another_backend_is_rejected() -> None:
    with pytest.raises(
        ConfigurationError, match="the redis:// scheme belongs to the redis backend"
    ):
        StorageBackendConfig(backend_type="sqlite", url="redis://localhost")


def test_url_given_twice() -> None:
    with pytest.raises(ConfigurationError, match="Give the url once"):
        StorageBackendConfig("redis", url="redis://a", config={"url": "redis://b"})


def test_bad_config_mapping() -> None:
    with pytest.raises(ConfigurationError, match="Invalid config"):
        StorageBackendConfig("memory", config={1: "x"})


def test_frozen_hashable_and_options_read_only() -> None:
    original = {"timeout": 1}
    cfg = StorageBackendConfig("sqlite", config=original)
    original["timeout"] = 2
    assert cfg.config["timeout"] == 1
    with pytest.raises(TypeError):
        cfg.config["timeout"] = 3  # type: ignore[index]
    assert hash(cfg) == hash(StorageBackendConfig("sqlite", config={"timeout": 1}))
    assert len({cfg, StorageBackendConfig("sqlite", config={"timeout": 1})}) == 1


def test_repr_masks_passwords() -> None:
    cfg = StorageBackendConfig(
        "postgres",
        url="postgresql://user:s3cret@db:5432/omniq",
        config={"password": "s3cret", "dsn": "postgresql://u:s3cret@db/x", "host": "db"},
    )
    text = repr(cfg)
    assert "s3cret" not in text
    assert "s3cret" not in str(cfg)
    assert "postgresql://user:***@db:5432/omniq" in text
    assert "'password': '***'" in text
    assert "'host': 'db'" in text
    assert cfg.url == "postgresql://user:s3cret@db:5432/omniq"  # the value itself is intact


def test_errors_mask_passwords() -> None:
    with pytest.raises(ConfigurationError) as err:
        StorageBackendConfig("sqlite", url="redis://:hunter2@localhost")
    assert "hunter2" not in str(err.value)
