"""Every hook a plugin can implement is documented in the backend author's guide."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from omniq.plugins import hookspecs
from omniq.plugins.loader import HOOK_NAMES

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "writing-a-backend.md"


def hookspec_names() -> list[str]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return sorted(
        name
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, marker)
    )


def test_the_hookspecs_are_the_hooks_the_loader_calls() -> None:
    assert hookspec_names() == sorted(HOOK_NAMES.values())


@pytest.mark.parametrize("hook", hookspec_names())
def test_hook_has_a_section_in_the_guide(hook: str) -> None:
    assert f"\n### `{hook}`\n" in GUIDE.read_text(), f"document {hook} in {GUIDE}"
