"""Loading a backend: selection by name or URL, options, isolation of broken plugins, caching."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import omniq
import pytest
from omniq.backend.base import Backend
from omniq.errors import BackendImportError, BackendOptionError, ConfigurationError
from omniq.plugins.discovery import discover
from omniq.plugins.manager import clear_cache, list_backends
from omniq.plugins.specs import BackendContext, ResultStorageSpec, TaskQueueSpec
from omniq.storage import Role
from structlog.testing import capture_logs

MakeDist = Callable[..., str]
Source = Callable[..., str]


def context_of(backend: Backend) -> BackendContext:
    # the throwaway plugins' factories return their BackendContext
    ctx: Any = backend.storage(Role.TASK_QUEUE)
    assert isinstance(ctx, BackendContext)
    return ctx


def test_load_returns_a_backend_with_its_specs_and_metadata(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist("omniq-thr", "4.5.6", backend="thr", source=valid_plugin("thr"))
    backend = omniq.load_backend("thr")
    assert type(backend) is Backend
    assert (backend.name, backend.distribution, backend.version) == ("thr", "omniq-thr", "4.5.6")
    assert backend.roles == {Role.TASK_QUEUE, Role.RESULT_STORAGE}
    assert isinstance(backend.spec("task_queue"), TaskQueueSpec)
    assert isinstance(backend.spec(Role.RESULT_STORAGE), ResultStorageSpec)
    assert backend.options.database_path == "default.db"
    assert context_of(backend).name == "thr"


def test_options_from_keywords_mapping_and_older_names(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr"))
    assert omniq.load_backend("thr", database_path="a.db").options.database_path == "a.db"
    assert omniq.load_backend("thr", {"db_path": "b.db"}).options.database_path == "b.db"
    both = omniq.load_backend("thr", {"db_path": "c.db"}, timeout="2.5").options
    assert (both.database_path, both.timeout) == ("c.db", 2.5)
    assert context_of(omniq.load_backend("thr", db_path="d.db")).options.database_path == "d.db"


def test_an_options_object_is_used_as_given(make_dist: MakeDist, valid_plugin: Source) -> None:
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr"))
    options_class = type(omniq.load_backend("thr").options)
    given = options_class(database_path="obj.db")
    assert omniq.load_backend("thr", given).options is given


def test_unknown_option_names_backend_allowed_options_and_suggestion(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr"))
    with pytest.raises(BackendOptionError) as caught:
        omniq.load_backend("thr", {"databse_path": "x.db"})
    assert str(caught.value) == (
        "Unknown option 'databse_path' for OmniQ backend 'thr'. Did you mean 'database_path'? "
        "Allowed options: database_path, timeout, url (older names: db_path -> database_path)"
    )
    assert isinstance(caught.value, ConfigurationError)
    assert isinstance(caught.value, ValueError)


def test_invalid_option_value_names_the_option(make_dist: MakeDist, valid_plugin: Source) -> None:
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr"))
    with pytest.raises(BackendOptionError) as caught:
        omniq.load_backend("thr", timeout="soon")
    assert str(caught.value) == (
        "Invalid options for OmniQ backend 'thr': invalid value for type, expected float @ "
        "$.timeout"
    )


def test_an_option_given_twice_is_refused(make_dist: MakeDist, valid_plugin: Source) -> None:
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr"))
    with pytest.raises(BackendOptionError, match=r"^Option 'database_path' for OmniQ backend "):
        omniq.load_backend("thr", db_path="a.db", database_path="b.db")
    with pytest.raises(BackendOptionError, match=r"^Option 'timeout' was given twice"):
        omniq.load_backend("thr", {"timeout": 1}, timeout=2)


def test_backend_without_options_refuses_any(make_dist: MakeDist) -> None:
    make_dist(
        "omniq-bare",
        backend="bare",
        source=(
            "from omniq import hookimpl\n"
            "from omniq.plugins.specs import TaskQueueSpec\n"
            "@hookimpl\n"
            "def omniq_task_queues():\n"
            "    return [TaskQueueSpec(name='bare', factory=lambda ctx: ctx)]\n"
        ),
    )
    assert omniq.load_backend("bare").options is None
    with pytest.raises(BackendOptionError) as caught:
        omniq.load_backend("bare", size=3)
    assert (
        str(caught.value) == "Unknown option 'size' for OmniQ backend 'bare': it takes no options"
    )


def test_url_whose_scheme_is_the_backend_name_arrives_as_option_url(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr"))
    backend = omniq.load_backend("thr://user:pw@127.0.0.1/x", timeout=1)
    assert backend.name == "thr"
    assert backend.options.url == "thr://user:pw@127.0.0.1/x"


def test_url_with_a_third_party_scheme_finds_the_plugin_declaring_it(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist("omniq-broken", backend="broken", source="raise RuntimeError('boom')\n")
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr", schemes=("thrq", "thrqs")))
    backend = omniq.load_backend("thrqs://host:1/")
    assert (backend.name, backend.options.url) == ("thr", "thrqs://host:1/")


def test_url_given_twice_is_refused(make_dist: MakeDist, valid_plugin: Source) -> None:
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr"))
    with pytest.raises(BackendOptionError, match=r"^Give the URL once: 'thr://a:\*\*\*@h'"):
        omniq.load_backend("thr://a:secret@h", url="thr://other")


def test_url_for_a_backend_without_a_url_option(make_dist: MakeDist) -> None:
    make_dist(
        "omniq-nourl",
        backend="nourl",
        source=(
            "from attrs import frozen\n"
            "from omniq import hookimpl\n"
            "from omniq.plugins.specs import TaskQueueSpec\n"
            "@frozen\n"
            "class Options:\n"
            "    size: int = 1\n"
            "@hookimpl\n"
            "def omniq_task_queues():\n"
            "    yield TaskQueueSpec(name='nourl', factory=lambda ctx: ctx, options=Options)\n"
        ),
    )
    with pytest.raises(BackendOptionError) as caught:
        omniq.load_backend("nourl://x")
    assert str(caught.value) == (
        "OmniQ backend 'nourl' does not take a URL (no option 'url'). Allowed options: size"
    )


def test_a_bare_url_selects_a_backend_without_a_url_option(make_dist: MakeDist) -> None:
    make_dist(
        "omniq-bare",
        backend="bare",
        source=(
            "from omniq import hookimpl\n"
            "from omniq.plugins.specs import TaskQueueSpec\n"
            "@hookimpl\n"
            "def omniq_task_queues():\n"
            "    return [TaskQueueSpec(name='bare', factory=lambda ctx: ctx)]\n"
        ),
    )
    assert omniq.load_backend("bare://").name == "bare"
    with pytest.raises(BackendOptionError, match=r"^Unknown option 'url' for OmniQ backend 'bare'"):
        omniq.load_backend("bare://somewhere")


def test_a_broken_plugin_never_breaks_another_backend(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist("omniq-broken", backend="broken", source="raise SystemError('broken at import')\n")
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr"))
    with pytest.raises(BackendImportError):
        omniq.load_backend("broken")
    assert omniq.load_backend("thr").name == "thr"
    statuses = {info.name: info.status for info in list_backends(load=True)}
    assert statuses["broken"] == "error"
    assert statuses["thr"] == "ok"


def test_a_broken_plugin_does_not_break_the_memory_backend(make_dist: MakeDist) -> None:
    pytest.importorskip("omniq.memory.plugin", reason="the memory backend has not landed yet")
    make_dist("omniq-broken", backend="broken", source="raise RuntimeError('boom')\n")
    list_backends(load=True)
    backend = omniq.load_backend("memory")
    assert backend.name == "memory"
    assert backend.distribution == "omniq-core"
    assert backend.roles == set(Role)


def test_loading_logs_the_backend_distribution_and_version(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    module = make_dist("omniq-thr", "7.0", backend="thr", source=valid_plugin("thr"))
    with capture_logs() as logs:
        omniq.load_backend("thr")
    loaded = [entry for entry in logs if entry["event"] == "backend loaded"]
    assert loaded == [
        {
            "event": "backend loaded",
            "log_level": "debug",
            "backend": "thr",
            "distribution": "omniq-thr",
            "version": "7.0",
            "module": module,
            "roles": ["result_storage", "task_queue"],
        }
    ]


def test_failed_load_log_masks_passwords(make_dist: MakeDist) -> None:
    make_dist(
        "omniq-broken", backend="broken", source="raise OSError('redis://u:hunter2@h:1 refused')\n"
    )
    with capture_logs() as logs, pytest.raises(BackendImportError):
        omniq.load_backend("broken")
    assert logs, "a failed load is logged"
    assert "hunter2" not in repr(logs)
    assert "redis://u:***@h:1" in logs[0]["error"]


def test_discovery_cache_is_per_sys_path_and_clearable(
    site_dir: Path, make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist("omniq-thr", backend="thr", source=valid_plugin("thr"))
    assert "thr" in discover()
    # a distribution appearing in a directory already on sys.path: seen after clear_cache()
    info = site_dir / "omniq_late-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: omniq-late\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[omniq.backends]\nlate = omniq_throwaway_late\n")
    clear_cache()
    assert "late" in discover()


def test_throwaway_distributions_of_other_tests_are_gone() -> None:
    # runs in any order: no test leaves its distributions visible to the next
    assert not [name for name in discover() if name in {"thr", "broken", "dup", "partial"}]
    assert not [name for name in sys.modules if name.startswith("omniq_throwaway_")]
