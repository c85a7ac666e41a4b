"""The layout version of a data dir: ``base_dir/omniq-layout``.

The file backend's counterpart of a database's schema version. A data dir records the layout
its writers use; a process refuses one written by a newer ``omniq-file`` with a clear error
instead of misreading it. A dir of an older layout is adopted and its record raised to
:data:`LAYOUT` (so an older ``omniq-file`` then refuses it): this layout reads the older files as
they are. The first layout (0.1) has no record.

Layout 3 (this one) counts deliveries in task files, names event batches by their time span
and size (``.events``), indexes result expiry by minute and keeps a local lease's expiry in its
file's time; layout 2 files lack all four and are read as they are. An older ``omniq-file``
would refuse the new task field as an unknown key and misread the new leases.
"""

from __future__ import annotations

from omniq.errors import StorageError

from omniq_file.blobs import Blobs
from omniq_file.result_expiry import UNINDEXED

__all__ = ["LAYOUT", "LAYOUT_FILE", "LayoutVersionError", "check_layout"]

LAYOUT = 3
"""Bump when files change so that an older ``omniq-file`` would misread them."""

LAYOUT_FILE = "omniq-layout"


class LayoutVersionError(StorageError):
    """The data dir was written by a newer ``omniq-file`` whose layout this one does not know."""


def check_layout(blobs: Blobs) -> int:
    """Record :data:`LAYOUT` in a new or older data dir, or refuse one of a newer layout.
    Returns the layout the dir had (0 for a new one, 1 for the first layout's)."""
    data = blobs.read(LAYOUT_FILE)
    if data is None and not _holds_data(blobs):
        if blobs.create(LAYOUT_FILE, f"{LAYOUT}\n".encode()):
            return 0
        data = blobs.read(LAYOUT_FILE)  # another process recorded it first
    if data is None:
        data = b"1"  # the first layout kept no record
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
    if found < LAYOUT:
        _upgrade(blobs)
        blobs.write(LAYOUT_FILE, f"{LAYOUT}\n".encode())
    return found


def _upgrade(blobs: Blobs) -> None:
    """What an older dir needs before this layout's writers use it (made before the record is
    raised, so a process that dies here leaves it to the next one)."""
    if blobs.atomic_rename and blobs.list(
        "results"
    ):  # their expiry is in no index yet: the next purge reads them all
        blobs.create(UNINDEXED, b"")


def _holds_data(blobs: Blobs) -> bool:
    return any(blobs.list(folder) for folder in ("index", "queues", "results", "events"))
