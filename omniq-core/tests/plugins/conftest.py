"""Throwaway distributions: real ``*.dist-info`` metadata and plugin modules written into a
temporary directory on ``sys.path``, so the plugin system is tested exactly as pip would set it up.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from omniq.plugins.manager import clear_cache

THROWAWAY_PREFIX = "omniq_throwaway_"

MakeDist = Callable[..., str]


@pytest.fixture(autouse=True)
def fresh_plugin_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with empty discovery and load caches and no disabled plugins, and leaves
    no throwaway module behind, so tests do not depend on their order."""
    monkeypatch.delenv("OMNIQ_DISABLE_PLUGINS", raising=False)
    clear_cache()
    yield
    clear_cache()
    for name in [name for name in sys.modules if name.startswith(THROWAWAY_PREFIX)]:
        del sys.modules[name]


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def make_dist(site_dir: Path) -> MakeDist:
    """``make_dist(distribution, version, backend=..., source=...)`` installs a distribution whose
    entry point ``backend`` in ``omniq.backends`` names a new module with ``source``; returns the
    module's (unique) name."""

    def make(
        distribution: str,
        version: str = "1.0",
        *,
        backend: str,
        source: str,
    ) -> str:
        module = f"{THROWAWAY_PREFIX}{uuid.uuid4().hex[:8]}"
        (site_dir / f"{module}.py").write_text(textwrap.dedent(source))
        info = site_dir / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text(f"[omniq.backends]\n{backend} = {module}\n")
        clear_cache()
        return module

    return make


def plugin_source(
    name: str,
    roles: tuple[str, ...] = ("task_queue", "result_storage"),
    *,
    schemes: tuple[str, ...] = (),
    spec_name: str | None = None,
    prelude: str = "",
) -> str:
    """A valid plugin module registering ``roles`` for backend ``name``. Its options class has
    ``database_path``, ``timeout`` and ``url`` (older name of ``database_path``: ``db_path``);
    each factory returns the ``BackendContext`` so tests can see the options."""
    hooks = {
        "task_queue": ("omniq_task_queues", "TaskQueueSpec"),
        "result_storage": ("omniq_result_storages", "ResultStorageSpec"),
        "event_storage": ("omniq_event_storages", "EventStorageSpec"),
        "schedule_storage": ("omniq_schedule_storages", "ScheduleStorageSpec"),
    }
    lines = [
        "from attrs import frozen",
        "from omniq import hookimpl",
        "from omniq.plugins.specs import (",
        "    TaskQueueSpec, ResultStorageSpec, EventStorageSpec, ScheduleStorageSpec,",
        ")",
        prelude,
        "@frozen",
        "class Options:",
        "    database_path: str = 'default.db'",
        "    timeout: float = 5.0",
        "    url: str | None = None",
        "",
    ]
    for role in roles:
        hook, spec = hooks[role]
        lines += [
            "@hookimpl",
            f"def {hook}():",
            f"    yield {spec}(name={spec_name or name!r}, factory=lambda ctx: ctx,",
            f"        url_schemes={schemes!r}, options=Options,",
            "        option_aliases={'db_path': 'database_path'})",
            "",
        ]
    return "\n".join(lines)


@pytest.fixture
def valid_plugin() -> Callable[..., str]:
    return plugin_source
