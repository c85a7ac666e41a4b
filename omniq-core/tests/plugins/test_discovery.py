"""Discovery and listing read metadata only; the documented class names resolve lazily."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable

import omniq
import pytest
from omniq.backend import NamedBackend
from omniq.errors import BackendDisabledError, BackendNotInstalledError
from omniq.plugins.discovery import discover
from omniq.plugins.manager import BackendInfo, list_backends
from omniq.storage import Role

MakeDist = Callable[..., str]
Source = Callable[..., str]


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_listing_and_class_lookup_import_no_plugin_in_a_fresh_interpreter() -> None:
    out = run_python(
        """
        import sys
        import omniq
        from omniq.backend import SQLiteBackend, RedisBackend, FileBackend, MemoryBackend
        infos = omniq.list_backends()
        assert {"memory", "sqlite", "redis", "file"} <= {i.name for i in infos}, infos
        heavy = ("omniq_", "redis", "sqlalchemy")
        plugin_modules = [m for m in sys.modules if m.endswith(".plugin") or m.startswith(heavy)]
        print(plugin_modules)
        """
    )
    assert out == "[]"


def test_discovery_imports_no_throwaway_plugin(make_dist: MakeDist, valid_plugin: Source) -> None:
    modules = [
        make_dist("omniq-thr", backend="thr", source=valid_plugin("thr")),
        make_dist("omniq-broken", backend="broken", source="raise RuntimeError('boom')\n"),
    ]
    assert {"thr", "broken"} <= set(discover())
    infos = {info.name: info for info in list_backends()}
    assert infos["thr"].status == "not loaded"
    assert infos["broken"].status == "not loaded"
    assert not [module for module in modules if module in sys.modules]


def test_list_backends_reports_metadata_and_after_loading_roles(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    module = make_dist(
        "omniq-thr", "3.1", backend="thr", source=valid_plugin("thr", schemes=("thr",))
    )
    before = {info.name: info for info in list_backends()}["thr"]
    assert before == BackendInfo(
        name="thr",
        distribution="omniq-thr",
        version="3.1",
        module=module,
        first_party=False,
        status="not loaded",
    )
    assert not before.loaded
    omniq.load_backend("thr")
    after = {info.name: info for info in list_backends()}["thr"]
    assert after.status == "ok"
    assert after.loaded
    assert after.roles == {Role.TASK_QUEUE, Role.RESULT_STORAGE}
    assert after.url_schemes == ("thr",)


def test_list_backends_load_reports_errors_conflicts_and_disabled(
    make_dist: MakeDist, valid_plugin: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dist("omniq-broken", "0.1", backend="broken", source="raise ValueError('bad')\n")
    make_dist("omniq-dup-a", backend="dup", source=valid_plugin("dup"))
    make_dist("omniq-dup-b", backend="dup", source=valid_plugin("dup"))
    off = make_dist("omniq-off", backend="off", source=valid_plugin("off"))
    monkeypatch.setenv("OMNIQ_DISABLE_PLUGINS", "off")
    infos = list_backends(load=True)
    by_name: dict[str, list[BackendInfo]] = {}
    for info in infos:
        by_name.setdefault(info.name, []).append(info)
    (broken,) = by_name["broken"]
    assert broken.status == "error"
    assert broken.error is not None
    assert broken.error.endswith("failed to import: ValueError: bad")
    assert sorted(info.distribution for info in by_name["dup"]) == ["omniq-dup-a", "omniq-dup-b"]
    assert {info.status for info in by_name["dup"]} == {"error"}
    assert by_name["off"][0].status == "disabled"
    assert off not in sys.modules


def test_first_party_backends_are_marked_with_their_schemes() -> None:
    infos = {info.name: info for info in list_backends()}
    assert infos["memory"].first_party
    assert infos["memory"].distribution == "omniq-core"
    assert infos["redis"].url_schemes == ("redis", "rediss")
    assert not infos["example"].first_party


def test_documented_class_of_a_missing_backend_is_an_import_error_with_the_fix(
    uninstall: Callable[..., None],
) -> None:
    uninstall("nats", "postgres")
    with pytest.raises(ImportError) as caught:
        from omniq.backend import NATSBackend  # noqa: F401
    assert isinstance(caught.value, BackendNotInstalledError)
    assert str(caught.value).splitlines()[0] == (
        "OmniQ backend 'nats' is not installed. Install it with: pip install ./omniq-nats (in a "
        "clone of the OmniQ repository; OmniQ's distributions are not on PyPI yet, and PyPI's "
        "'omniq' is an unrelated project)"
    )
    with pytest.raises(ImportError, match=r"pip install \./omniq-postgres"):
        from omniq.backend.postgres import PostgreSQLBackend  # noqa: F401
    with pytest.raises(ImportError, match=r"pip install \./omniq-postgres"):
        from omniq.backend import PostgresBackend  # noqa: F401


def test_documented_class_of_a_disabled_backend_is_an_import_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMNIQ_DISABLE_PLUGINS", "redis")
    with pytest.raises(BackendDisabledError):
        from omniq.backend import RedisBackend  # noqa: F401


def test_documented_classes_of_installed_backends_resolve_to_one_class_each() -> None:
    from omniq.backend import MemoryBackend, RedisBackend, SQLiteBackend
    from omniq.backend.redis import RedisBackend as RedisFromModule
    from omniq.backend.sqlite import SQLiteBackend as SQLiteFromModule

    assert SQLiteBackend is SQLiteFromModule
    assert RedisBackend is RedisFromModule
    assert issubclass(SQLiteBackend, NamedBackend)
    assert (SQLiteBackend.__name__, SQLiteBackend.backend_name) == ("SQLiteBackend", "sqlite")
    assert SQLiteBackend.__module__ == "omniq.backend.sqlite"
    assert MemoryBackend.backend_name == "memory"
    missing = "NoSuchBackend"
    with pytest.raises(AttributeError):
        getattr(omniq.backend, missing)


def test_named_backend_takes_a_mapping_or_keywords(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist("omniq-thr", "1.1", backend="thr", source=valid_plugin("thr"))
    thr_backend = type("ThrBackend", (NamedBackend,), {"backend_name": "thr"})
    from_mapping = thr_backend({"db_path": "omniq.db"})
    from_keywords = thr_backend(database_path="omniq.db", timeout=1)
    assert isinstance(from_mapping, omniq.Backend)
    assert from_mapping.options.database_path == "omniq.db"
    assert from_keywords.options.timeout == 1.0
    assert (from_mapping.name, from_mapping.version) == ("thr", "1.1")


def test_memory_backend_class_builds_the_memory_backend() -> None:
    pytest.importorskip("omniq.memory.plugin", reason="the memory backend has not landed yet")
    from omniq.backend import MemoryBackend

    backend = MemoryBackend()
    assert isinstance(backend, MemoryBackend)
    assert backend.name == "memory"
    assert backend.roles == set(Role)
