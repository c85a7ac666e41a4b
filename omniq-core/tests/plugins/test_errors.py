"""Every plugin-system error, with its exact wording, from real (throwaway) distributions."""

from __future__ import annotations

import sys
from collections.abc import Callable

import omniq
import pytest
from omniq.errors import (
    BackendConflictError,
    BackendDisabledError,
    BackendImportError,
    BackendNotInstalledError,
    BackendUnavailableError,
    InvalidBackendPluginError,
    MissingRoleError,
    OmniQError,
    UnknownBackendError,
)
from omniq.plugins import discovery
from omniq.plugins.known import install_command
from omniq.storage import Role

MakeDist = Callable[..., str]
Source = Callable[..., str]


def installed_sentence() -> str:
    return f"Installed backends: {', '.join(discovery.discover())}."


@pytest.mark.parametrize(
    ("asked", "name", "dist"),
    [
        ("nats", "nats", "omniq-nats"),
        ("postgres", "postgres", "omniq-postgres"),
        ("PostgreSQL", "postgres", "omniq-postgres"),
        ("postgresql://app:s3cret@db.example/omniq", "postgres", "omniq-postgres"),
        ("nats://user:s3cret@127.0.0.1:4222", "nats", "omniq-nats"),
    ],
)
def test_first_party_backend_not_installed_names_the_pip_install(
    asked: str, name: str, dist: str, uninstall: Callable[..., None]
) -> None:
    uninstall(name)
    with pytest.raises(BackendNotInstalledError) as caught:
        omniq.load_backend(asked)
    assert str(caught.value) == (
        f"OmniQ backend '{name}' is not installed. Install it with: {install_command(dist)}\n"
        f"{installed_sentence()}"
    )
    assert "s3cret" not in str(caught.value)
    assert isinstance(caught.value, ImportError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.backend == name


def test_not_installed_lists_the_installed_backends(
    make_dist: MakeDist, valid_plugin: Source, uninstall: Callable[..., None]
) -> None:
    make_dist("omniq-throwaway", backend="zzthrowaway", source=valid_plugin("zzthrowaway"))
    uninstall("nats")
    with pytest.raises(BackendNotInstalledError) as caught:
        omniq.load_backend("nats")
    installed_line = str(caught.value).splitlines()[1]
    assert installed_line.startswith("Installed backends: ")
    assert installed_line.endswith(", zzthrowaway.")


def test_unknown_backend_suggests_the_closest_installed_one() -> None:
    with pytest.raises(UnknownBackendError) as caught:
        omniq.load_backend("redsi")
    assert str(caught.value) == (
        "Unknown OmniQ backend 'redsi'. Did you mean 'redis'? "
        f"{installed_sentence()} Backends register through the 'omniq.backends' entry point "
        "group; see docs/plugins/writing-a-backend.md"
    )
    assert isinstance(caught.value, LookupError)
    assert isinstance(caught.value, ValueError)


def test_unknown_backend_suggests_a_third_party_one(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist("omniq-kafkaish", backend="kafkaish", source=valid_plugin("kafkaish"))
    with pytest.raises(
        UnknownBackendError, match=r"^Unknown OmniQ backend 'kafkish'\. Did you mean 'kafkaish'\? "
    ):
        omniq.load_backend("kafkish")


def test_unknown_backend_without_a_close_name_makes_no_suggestion() -> None:
    with pytest.raises(UnknownBackendError) as caught:
        omniq.load_backend("qqqqqq")
    assert str(caught.value).startswith(f"Unknown OmniQ backend 'qqqqqq'. {installed_sentence()} ")
    assert "Did you mean" not in str(caught.value)


def test_unknown_url_scheme_masks_the_password() -> None:
    with pytest.raises(UnknownBackendError) as caught:
        omniq.load_backend("amqp://guest:hunter2@127.0.0.1:5672/")
    assert str(caught.value).startswith(
        "No OmniQ backend handles the URL scheme 'amqp://' ('amqp://guest:***@127.0.0.1:5672/'). "
    )
    assert "hunter2" not in str(caught.value)


def test_broken_backend_names_distribution_version_and_error(make_dist: MakeDist) -> None:
    module = make_dist(
        "omniq-broken",
        "1.2.3",
        backend="broken",
        source="raise RuntimeError('cannot reach redis://admin:hunter2@cache:6379/0')\n",
    )
    with pytest.raises(BackendImportError) as caught:
        omniq.load_backend("broken")
    assert str(caught.value) == (
        f"OmniQ backend 'broken' (distribution omniq-broken 1.2.3, module {module}) failed to "
        "import: RuntimeError: cannot reach redis://admin:***@cache:6379/0"
    )
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert isinstance(caught.value, ImportError)
    assert module not in sys.modules


def test_backend_whose_dependency_is_missing_is_an_import_error(make_dist: MakeDist) -> None:
    module = make_dist(
        "omniq-needs-dep", "0.3", backend="needsdep", source="import omniq_no_such_dependency\n"
    )
    with pytest.raises(BackendImportError) as caught:
        omniq.load_backend("needsdep")
    assert str(caught.value) == (
        f"OmniQ backend 'needsdep' (distribution omniq-needs-dep 0.3, module {module}) failed to "
        "import: ModuleNotFoundError: No module named 'omniq_no_such_dependency'"
    )
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_hook_that_raises_is_reported_with_the_hook(make_dist: MakeDist) -> None:
    module = make_dist(
        "omniq-hookfail",
        "2.0",
        backend="hookfail",
        source=(
            "from omniq import hookimpl\n"
            "@hookimpl\n"
            "def omniq_task_queues():\n"
            "    raise KeyError('missing setting')\n"
        ),
    )
    with pytest.raises(BackendImportError) as caught:
        omniq.load_backend("hookfail")
    assert str(caught.value) == (
        f"OmniQ backend 'hookfail' (distribution omniq-hookfail 2.0, module {module}) failed in "
        "its hook omniq_task_queues: KeyError: 'missing setting'"
    )


def test_two_distributions_with_one_name_are_a_conflict_naming_both(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    first = make_dist("omniq-dup-a", "1.0", backend="dup", source=valid_plugin("dup"))
    second = make_dist("omniq-dup-b", "2.5", backend="dup", source=valid_plugin("dup"))
    with pytest.raises(BackendConflictError) as caught:
        omniq.load_backend("dup")
    message = str(caught.value)
    # metadata order is the file system's: accept either order, but both must be named
    expected = [
        f"omniq-dup-a 1.0 (module {first})",
        f"omniq-dup-b 2.5 (module {second})",
    ]
    assert message in {
        f"OmniQ backend 'dup' is registered by 2 distributions: {a} and {b}. "
        "Uninstall all but one of them"
        for a, b in (expected, expected[::-1])
    }
    assert isinstance(caught.value, ImportError)
    assert first not in sys.modules
    assert second not in sys.modules


def test_disabled_backend_says_which_variable_disables_it(
    make_dist: MakeDist, valid_plugin: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = make_dist("omniq-off", backend="off", source=valid_plugin("off"))
    monkeypatch.setenv("OMNIQ_DISABLE_PLUGINS", "something, off")
    with pytest.raises(BackendDisabledError) as caught:
        omniq.load_backend("off")
    assert str(caught.value) == (
        "OmniQ backend 'off' is disabled by the environment variable OMNIQ_DISABLE_PLUGINS; "
        "remove 'off' from it to use this backend"
    )
    assert isinstance(caught.value, ImportError)
    assert module not in sys.modules


def test_spec_named_after_another_backend_is_an_invalid_plugin(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    module = make_dist(
        "omniq-liar", "1.0", backend="liar", source=valid_plugin("liar", spec_name="redis")
    )
    with pytest.raises(InvalidBackendPluginError) as caught:
        omniq.load_backend("liar")
    assert str(caught.value) == (
        f"OmniQ backend 'liar' (distribution omniq-liar 1.0, module {module}) is not a valid "
        "OmniQ plugin: omniq_task_queues yielded a spec named 'redis', but the entry point in "
        "the 'omniq.backends' group is named 'liar'; the two must match. See "
        "docs/plugins/writing-a-backend.md"
    )


def test_misspelled_hook_is_an_invalid_plugin(make_dist: MakeDist) -> None:
    make_dist(
        "omniq-typo",
        backend="typo",
        source=("from omniq import hookimpl\n@hookimpl\ndef omniq_task_queue():\n    return []\n"),
    )
    with pytest.raises(InvalidBackendPluginError, match="unknown hook 'omniq_task_queue'"):
        omniq.load_backend("typo")


def test_plugin_registering_nothing_is_an_invalid_plugin(make_dist: MakeDist) -> None:
    make_dist("omniq-empty", backend="empty", source="X = 1\n")
    with pytest.raises(
        InvalidBackendPluginError, match=r"it registers no storage \(it implements none of"
    ):
        omniq.load_backend("empty")


def test_missing_role_names_its_roles_and_the_backends_that_have_it(
    make_dist: MakeDist, valid_plugin: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    # only throwaway backends count, so the list is exact
    monkeypatch.setenv("OMNIQ_DISABLE_PLUGINS", ",".join(discovery.discover()))
    make_dist(
        "omniq-partial",
        backend="partial",
        source=valid_plugin("partial", ("result_storage", "event_storage")),
    )
    make_dist("omniq-full", backend="full", source=valid_plugin("full"))
    make_dist("omniq-unloaded", backend="unloaded", source=valid_plugin("unloaded"))
    omniq.load_backend("full")  # loaded: its roles are known; 'unloaded' was never imported
    partial = omniq.load_backend("partial")
    with pytest.raises(MissingRoleError) as caught:
        partial.task_queue()
    assert str(caught.value) == (
        "Unsupported task queue backend: 'partial' has no task queue. It provides: result "
        "storage, event storage. Backends with a task queue: full."
    )
    assert isinstance(caught.value, ValueError)
    with pytest.raises(MissingRoleError) as caught:
        partial.spec(Role.SCHEDULE_STORAGE)
    assert str(caught.value) == (
        "Unsupported schedule storage backend: 'partial' has no schedule storage. It provides: "
        "result storage, event storage. No other installed backend is known to provide a "
        "schedule storage."
    )


def test_missing_role_lists_first_party_backends_without_importing_them(
    make_dist: MakeDist, valid_plugin: Source
) -> None:
    make_dist(
        "omniq-partial", backend="partial", source=valid_plugin("partial", ("result_storage",))
    )
    known = ("file", "memory", "nats", "postgres", "redis", "sqlite")
    first_party = [name for name in known if name in discovery.discover()]
    assert first_party, "the workspace installs first-party backends"
    with pytest.raises(MissingRoleError) as caught:
        omniq.load_backend("partial").event_storage()
    assert str(caught.value).endswith(f"Backends with an event storage: {', '.join(first_party)}.")


def test_every_error_is_an_omniq_error() -> None:
    for cls in (
        BackendConflictError,
        BackendDisabledError,
        BackendImportError,
        BackendNotInstalledError,
        InvalidBackendPluginError,
        MissingRoleError,
        UnknownBackendError,
    ):
        assert issubclass(cls, OmniQError)
    assert issubclass(BackendNotInstalledError, BackendUnavailableError)
