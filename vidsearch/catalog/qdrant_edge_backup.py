"""Restore of the Qdrant Edge catalog by directory swap (archive format: ``snapshots``).

Qdrant Edge 0.9.0 can apply a server snapshot but cannot create one, so the backup is
the logical snapshot of ``snapshots`` (``QdrantCatalog.snapshot``), and so is a restore.

A restore never touches the live directory until the new catalog is complete: the
archive is verified, loaded into ``<dir>.restoring``, counted against the manifest and
marked complete; then ``<dir>`` moves to ``<dir>.replaced`` and the new one into place
(two renames). A crash before the swap leaves the old catalog; a crash between the
renames leaves the complete new copy, which the next open moves into place.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vidsearch.catalog.base import CatalogError
from vidsearch.catalog.qdrant_edge_store import EdgePointStore
from vidsearch.catalog.snapshots import Progress, SnapshotReader, fsync_dir, load_archive

RESTORING = ".restoring"  # sibling directory the archive is loaded into
REPLACED = ".replaced"  # sibling the old catalog moves to during the swap
COMPLETE = "RESTORE_COMPLETE"  # in RESTORING: verified, safe to move into place


class DirectorySwap:
    """``StagedRestore`` of an Edge catalog: stage beside ``store.root``, then rename."""

    def __init__(self, store: EdgePointStore) -> None:
        self.store = store

    def stage(self, reader: SnapshotReader, progress: Progress | None) -> Path:
        return stage_restore(self.store.root, reader, progress)

    def swap_in(self, staged: Path) -> None:
        root = self.store.root
        self.store.close()
        try:
            swap_in(staged, root)
        except OSError as exc:
            raise CatalogError(f"cannot move the restored catalog into place: {exc}") from exc
        finally:
            finish_interrupted_restore(root)  # a swap cut short, completed

    def discard(self, staged: Path) -> None:
        if self.store.root.exists():  # else ``staged`` is the complete copy the next open uses
            shutil.rmtree(staged, ignore_errors=True)


def _sibling(root: Path, suffix: str) -> Path:
    return root.with_name(root.name + suffix)


def stage_restore(root: Path, reader: SnapshotReader, progress: Progress | None) -> Path:
    """Load the archive into a fresh sibling of ``root``, verify it, mark it complete."""
    manifest = reader.manifest
    staged = _sibling(root, RESTORING)
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        _load(staged, reader, progress)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    (staged / COMPLETE).write_text(manifest.sha256)
    fsync_dir(staged)
    return staged


def _load(staged: Path, reader: SnapshotReader, progress: Progress | None) -> None:
    store = EdgePointStore(staged)
    try:
        with store.errors(f"restoring into {staged}"):
            store.create(reader.manifest.dims)
            load_archive(store, reader, progress)
            store.optimize()  # build the binary quantization now
    finally:
        store.close()


def swap_in(staged: Path, root: Path) -> None:
    """Move the old catalog aside and the staged one into place, then drop the old."""
    old = _sibling(root, REPLACED)
    shutil.rmtree(old, ignore_errors=True)
    if root.exists():
        root.rename(old)
    staged.rename(root)
    (root / COMPLETE).unlink()
    fsync_dir(root.parent)
    shutil.rmtree(old, ignore_errors=True)


def finish_interrupted_restore(root: Path) -> None:
    """Complete a swap a crash cut short; drop the old copy once the new one is in place."""
    staged = _sibling(root, RESTORING)
    if not root.exists() and (staged / COMPLETE).is_file():
        staged.rename(root)
        (root / COMPLETE).unlink()
        fsync_dir(root.parent)
    if root.exists():
        shutil.rmtree(_sibling(root, REPLACED), ignore_errors=True)
