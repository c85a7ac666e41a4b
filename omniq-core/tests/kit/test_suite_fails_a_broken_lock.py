"""The conformance suite fails a backend that declares MULTI_PROCESS while its cross-process
lock does nothing, and passes the same backend with the lock on (so the lock is the cause)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

_SUITE = """
import pytest
from omniq.testing import BackendConformance


class TestLocked(BackendConformance):
    backend_name = "brokenjson"
    volume = 0.3

    @pytest.fixture
    def backend_options(self, tmp_path):
        return {"path": str(tmp_path / "store.json"), "lock": True}


class TestNoLock(TestLocked):
    @pytest.fixture
    def backend_options(self, tmp_path):
        return {"path": str(tmp_path / "store.json"), "lock": False}
"""

_MULTI_PROCESS_TESTS = (
    "test_process_claims_are_disjoint_across_processes",
    "test_process_results_keep_the_highest_delivery_across_processes",
    "test_process_a_tick_fires_once_across_processes",
)


def _install(site: Path) -> None:
    """The broken backend as an installed distribution: a module and its entry point."""
    site.mkdir()
    (site / "omniq_broken_kit.py").write_text(
        (Path(__file__).parent / "broken_store.py").read_text()
    )
    info = site / "omniq_broken_kit-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: omniq-broken-kit\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[omniq.backends]\nbrokenjson = omniq_broken_kit\n")


@pytest.mark.timeout(600)
def test_the_suite_fails_a_multi_process_backend_without_a_lock(tmp_path: Path) -> None:
    _install(tmp_path / "site")
    (tmp_path / "test_broken_suite.py").write_text(_SUITE)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\ntimeout = 300\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), *sys.path])}
    chosen = " or ".join(_MULTI_PROCESS_TESTS)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-k", chosen, "test_broken_suite.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = run.stdout + run.stderr
    outcomes = dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r"^(PASSED|FAILED|ERROR|SKIPPED) [^:\s]+::(\S+)", report, re.M)
    )
    for test in _MULTI_PROCESS_TESTS:
        assert outcomes.get(f"TestLocked::{test}") == "PASSED", report[-3000:]
    for test in _MULTI_PROCESS_TESTS:
        assert outcomes.get(f"TestNoLock::{test}") == "FAILED", report[-3000:]
    assert run.returncode == 1
