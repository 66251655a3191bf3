"""Backup and restore of the Qdrant Edge catalog (archive format: ``snapshots``).

Qdrant Edge 0.9.0 can apply a server snapshot but cannot create one, so the backup is
the logical snapshot of ``snapshots``, read through the shards while writers wait.

A restore never touches the live directory until the new catalog is complete: the
archive is verified, loaded into ``<dir>.restoring``, counted against the manifest and
marked complete; then ``<dir>`` moves to ``<dir>.replaced`` and the new one into place
(two renames). A crash before the swap leaves the old catalog; a crash between the
renames leaves the complete new copy, which the next open moves into place.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import CatalogError
from vidsearch.catalog.qdrant_edge_store import edge_errors, open_shards, read_dims
from vidsearch.catalog.snapshots import (
    CatalogNotEmptyError,
    Progress,
    SnapshotError,
    SnapshotManifest,
    SnapshotReader,
    StoredPoint,
    check_restored,
    write_snapshot,
)
from vidsearch.catalog.visibility import ReadWriteLock

RESTORING = ".restoring"  # sibling directory the archive is loaded into
REPLACED = ".replaced"  # sibling the old catalog moves to during the swap
COMPLETE = "RESTORE_COMPLETE"  # in RESTORING: verified, safe to move into place
_BATCH = 512


class EdgeBackupMixin:
    """``snapshot`` / ``restore`` for ``QdrantEdgeCatalog`` (which owns these fields)."""

    _root: Path
    _lock: ReadWriteLock
    _dims: sc.Dims | None
    _shards: dict[str, qe.EdgeShard]

    def snapshot(self, dest: Path, *, progress: Progress | None = None) -> SnapshotManifest:
        """Write a backup archive to ``dest``; writers wait, readers go on."""
        with self._lock.writing():
            if self._dims is None:
                raise SnapshotError(f"catalog {self._root} is empty: nothing to back up")
            return write_snapshot(
                dest, dims=self._dims, backend="qdrant_edge", export=self._export, progress=progress
            )

    def _export(self, store: str) -> Iterator[list[StoredPoint]]:
        offset: Any = None
        while True:
            with self._lock.reading(), edge_errors(f"backup of {store}"):
                points, offset = self._shards[store].scroll(
                    qe.ScrollRequest(
                        offset=offset, limit=_BATCH, with_payload=True, with_vector=True
                    )
                )
            yield [
                StoredPoint(str(p.id), dict(_any(p.vector)), dict(p.payload or {})) for p in points
            ]
            if offset is None:
                return

    def restore(
        self, archive: Path, *, force: bool = False, progress: Progress | None = None
    ) -> SnapshotManifest:
        """Replace the catalog with a verified archive (see the module docstring)."""
        reader = SnapshotReader(archive)
        self._refuse_overwrite(force)
        staged = stage_restore(self._root, reader, progress)
        try:
            with self._lock.exclusive():
                self._refuse_overwrite(force)  # a write may have landed while staging
                with edge_errors("closing catalog for restore"):
                    for shard in self._shards.values():
                        shard.close()
                self._shards = {}
                try:
                    swap_in(staged, self._root)
                except OSError as exc:
                    raise CatalogError(
                        f"cannot move the restored catalog into place: {exc}"
                    ) from exc
                finally:
                    finish_interrupted_restore(self._root)  # a swap cut short, completed
                    self._dims = read_dims(self._root, None, None)
                    if self._dims is not None:
                        self._shards = open_shards(self._root, self._dims)
        finally:
            if self._root.exists():  # refused or failed before the swap: leave nothing behind
                shutil.rmtree(staged, ignore_errors=True)
        return reader.manifest

    def _refuse_overwrite(self, force: bool) -> None:
        with self._lock.reading(), edge_errors("counting points"):
            held = {
                s: shard.count(qe.CountRequest(exact=True)) for s, shard in self._shards.items()
            }
        if not force and any(held.values()):
            raise CatalogNotEmptyError(
                f"catalog {self._root} holds {held.get(sc.VIDEOS, 0)} videos: restoring would "
                "replace them; back them up first, then pass force (--force)"
            )


def _any(value: Any) -> Any:
    """Edge's stubs type vectors as invariant dicts of unions; ours are plain lists."""
    return value or {}


def _sibling(root: Path, suffix: str) -> Path:
    return root.with_name(root.name + suffix)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    _fsync_dir(staged)
    return staged


def _load(staged: Path, reader: SnapshotReader, progress: Progress | None) -> None:
    manifest = reader.manifest
    shards = open_shards(staged, manifest.dims)
    counts: dict[str, int] = {}
    try:
        with edge_errors(f"restoring into {staged}"):
            for store in (sc.KEYFRAMES, sc.VIDEOS):  # commit markers last, as in an upsert
                done = 0
                for chunk in reader.points(store):
                    points = [qe.Point(p.point_id, _any(p.vectors), p.payload) for p in chunk]
                    shards[store].update(qe.UpdateOperation.upsert_points(points))
                    done += len(chunk)
                    if progress:
                        progress(store, done, manifest.points.get(store, 0))
                shards[store].flush()
                shards[store].optimize()  # build the binary quantization now
                counts[store] = shards[store].count(qe.CountRequest(exact=True))
            facet = shards[sc.VIDEOS].facet(
                qe.FacetRequest(sc.F_MODEL_VERSION, limit=1000, exact=True)
            )
            versions = sorted(int(h.value) for h in facet.hits)
    finally:
        for shard in shards.values():
            shard.close()
    check_restored(manifest, counts, versions)


def swap_in(staged: Path, root: Path) -> None:
    """Move the old catalog aside and the staged one into place, then drop the old."""
    old = _sibling(root, REPLACED)
    shutil.rmtree(old, ignore_errors=True)
    if root.exists():
        root.rename(old)
    staged.rename(root)
    (root / COMPLETE).unlink()
    _fsync_dir(root.parent)
    shutil.rmtree(old, ignore_errors=True)


def finish_interrupted_restore(root: Path) -> None:
    """Complete a swap a crash cut short; drop the old copy once the new one is in place."""
    staged = _sibling(root, RESTORING)
    if not root.exists() and (staged / COMPLETE).is_file():
        staged.rename(root)
        (root / COMPLETE).unlink()
        _fsync_dir(root.parent)
    if root.exists():
        shutil.rmtree(_sibling(root, REPLACED), ignore_errors=True)
