"""Fixtures of the worker tests: task functions in a real importable module (child processes of
the ``process_pool`` worker import it), and apps on the memory backend."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

TASKS = """
import asyncio
import os
import time

calls = []

def add(a, b):
    return a + b

async def async_add(a, b):
    await asyncio.sleep(0)
    return a + b

def explode(message):
    raise ValueError(message)

def sleep_then(seconds, value):
    time.sleep(seconds)
    return value

async def async_sleep_then(seconds, value):
    await asyncio.sleep(seconds)
    return value

def pid():
    return os.getpid()

def record(value):
    calls.append(value)
    return value
"""


@pytest.fixture
def tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A fresh module ``omniq_worker_tasks`` of task functions, importable by child processes."""
    (tmp_path / "omniq_worker_tasks.py").write_text(textwrap.dedent(TASKS))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("omniq_worker_tasks", None)
    module = importlib.import_module("omniq_worker_tasks")
    yield module
    sys.modules.pop("omniq_worker_tasks", None)
