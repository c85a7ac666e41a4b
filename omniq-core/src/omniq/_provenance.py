"""Is the ``omniq`` package that Python imported OmniQ's own (``omniq-core``)?

The name ``omniq`` on PyPI belongs to an unrelated project. Installed next to ``omniq-core``, both
write into one ``omniq/`` folder: whichever ``__init__.py`` came last wins, and uninstalling either
breaks the other. OmniQ checks at import, cheaply (one directory listing), and refuses to run on
such a mix with a message that says how to repair it.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["FOREIGN_OMNIQ_FIX", "check_folder", "check_package"]

OUR_SUMMARY = (
    "A Python task queue whose queue, results, events and schedules each use the backend you "
    "choose."
)
"""The summary of this repository's own ``omniq`` meta-distribution (root ``pyproject.toml``)."""

FOREIGN_OMNIQ_FIX = (
    "PyPI's 'omniq' is an unrelated project. Repair the environment with: pip uninstall -y omniq "
    "omniq-core, then install OmniQ from its repository: pip install ./omniq-core ./omniq-sqlite"
)


def check_package(package: ModuleType) -> None:
    """Raise ``ImportError`` unless ``package`` (``sys.modules["omniq"]``) is omniq-core's."""
    if getattr(package, "__omniq_core__", False) is not True:
        where = getattr(package, "__file__", None) or "?"
        raise ImportError(
            f"The 'omniq' package imported from {where} is not OmniQ's (omniq-core): another "
            f"project's 'omniq' is installed in its place. {FOREIGN_OMNIQ_FIX}"
        )


def check_folder(init_file: str) -> None:
    """Raise ``ImportError`` when the folder holding our ``omniq/`` package also has another
    project's ``omniq`` distribution installed (its ``omniq-<version>.dist-info``)."""
    site = os.path.dirname(os.path.dirname(init_file))
    try:
        names = os.listdir(site)
    except OSError:
        return
    for name in names:
        if not (name.startswith("omniq-") and name.endswith(".dist-info")):
            continue
        version = name[len("omniq-") : -len(".dist-info")]
        if not version[:1].isdigit():
            continue  # omniq-foo-... is not the distribution named "omniq"
        summary = _summary(os.path.join(site, name, "METADATA"))
        if summary != OUR_SUMMARY:
            raise ImportError(
                f"The folder {site} holds OmniQ (omniq-core) mixed with another project's 'omniq' "
                f"{version} ({summary or 'no summary'}): both install an 'omniq' package there. "
                f"{FOREIGN_OMNIQ_FIX}"
            )


def _summary(metadata: str) -> str | None:
    try:
        with open(metadata, encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("Summary:"):
                    return line[len("Summary:") :].strip()
                if not line.strip():
                    return None  # the headers ended
    except OSError:
        return None
    return None
