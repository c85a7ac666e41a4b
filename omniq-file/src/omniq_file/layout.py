"""The layout version of a data dir: ``base_dir/omniq-layout``.

The file backend's counterpart of a database's schema version. A data dir records the layout
its writers use; a process refuses one written by a newer ``omniq-file`` with a clear error
instead of misreading it. A dir of the first layout (0.1) has no record and is adopted: this
layout reads the first one's files as they are.
"""

from __future__ import annotations

from omniq.errors import StorageError

from omniq_file.blobs import Blobs

__all__ = ["LAYOUT", "LAYOUT_FILE", "LayoutVersionError", "check_layout"]

LAYOUT = 2
"""Bump when files change so that an older ``omniq-file`` would misread them."""

LAYOUT_FILE = "omniq-layout"


class LayoutVersionError(StorageError):
    """The data dir was written by a newer ``omniq-file`` whose layout this one does not know."""


def check_layout(blobs: Blobs) -> None:
    """Record :data:`LAYOUT` in a new data dir, or refuse one of a newer layout."""
    data = blobs.read(LAYOUT_FILE)
    if data is None:
        if blobs.create(LAYOUT_FILE, f"{LAYOUT}\n".encode()):
            return
        data = blobs.read(LAYOUT_FILE) or b""  # another process recorded it first
    where = f"{blobs.label}/{LAYOUT_FILE}"
    try:
        found = int(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise StorageError(
            f"{where} should hold the data dir's layout number, not {data[:40]!r}: it is not "
            "an omniq-file data dir, or the file was damaged (write the digit "
            f"{LAYOUT} into it if the dir is this version's)"
        ) from None
    if found > LAYOUT:
        raise LayoutVersionError(
            f"{blobs.label} holds data of file layout {found}, written by a newer omniq-file; "
            f"this one understands up to layout {LAYOUT}. Upgrade omniq-file (pip install -U "
            "omniq-file); nothing was changed."
        )
