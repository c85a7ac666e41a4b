"""``import omniq`` refuses another project's ``omniq`` (PyPI's is unrelated) with the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import omniq

OUR_PACKAGE = Path(omniq.__file__).parent


def _import(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        capture_output=True,
        text=True,
        check=False,
    )


def _foreign_metadata(site: Path, version: str, summary: str) -> None:
    info = site / f"omniq-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: omniq\nVersion: {version}\nSummary: {summary}\n\nbody\n"
    )


def test_a_foreign_omniq_init_is_named_when_our_modules_are_imported(tmp_path: Path) -> None:
    foreign = tmp_path / "omniq"
    foreign.mkdir()
    # another project's __init__.py won the shared folder; our modules are still in it
    (foreign / "__init__.py").write_text(
        f"VERSION = '4.0.0'\n__path__.append({str(OUR_PACKAGE)!r})\n"
    )
    done = _import(tmp_path, "import omniq.errors")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: The 'omniq' package imported from")
    assert "is not OmniQ's (omniq-core)" in last
    assert "pip uninstall -y omniq omniq-core" in last
    assert "pip install ./omniq-core ./omniq-sqlite" in last


def test_a_folder_shared_with_pypi_omniq_is_refused(tmp_path: Path) -> None:
    (tmp_path / "omniq").symlink_to(OUR_PACKAGE, target_is_directory=True)
    _foreign_metadata(tmp_path, "4.0.0", "OmniQ v1 - Redis+Lua queue Python SDK")
    done = _import(tmp_path, "import omniq")
    assert done.returncode != 0
    assert "mixed with another project's 'omniq' 4.0.0 (OmniQ v1 - Redis+Lua" in done.stderr
    assert "pip uninstall -y omniq omniq-core" in done.stderr


def test_our_own_meta_distribution_and_other_omniq_distributions_are_fine(
    tmp_path: Path,
) -> None:
    (tmp_path / "omniq").symlink_to(OUR_PACKAGE, target_is_directory=True)
    _foreign_metadata(tmp_path, "0.1.0", omniq._provenance.OUR_SUMMARY)
    (tmp_path / "omniq-redis-0.1.0.dist-info").mkdir()  # not the distribution named "omniq"
    done = _import(tmp_path, "import omniq, omniq.errors; print(omniq.__file__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "omniq" / "__init__.py")


def test_the_meta_distribution_summary_is_the_one_checked() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2] / "pyproject.toml"
    description = tomllib.loads(root.read_text())["project"]["description"]
    assert description == omniq._provenance.OUR_SUMMARY
