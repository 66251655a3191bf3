"""Backup and restore of the cluster catalog (archive format: ``snapshots``).

Why not the collection snapshot API: on a distributed cluster ``create_snapshot``
through one URL holds only the shards of the node it reached (a full backup needs
every node's snapshot, which is an operator task, e.g. the Helm chart's), and
qdrant-client's local mode has no snapshots at all. The logical snapshot reads every
point through the API, so it is complete whatever the topology and restores into
either backend. Writers of this process wait; stop other indexers first (a video
changed mid-backup fails the backup instead of being stored torn).

A restore is not atomic as a whole (Qdrant cannot rename collections): it drops both
collections, recreates them and loads key frames, then video points (the commit
markers). A crash mid-way leaves a subset of videos, each complete; run it again with
``force``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as m

from vidsearch.catalog import schema as sc
from vidsearch.catalog.qdrant_cluster_store import client_errors
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

_BATCH = 256


class ClusterBackupMixin:
    """``snapshot`` / ``restore`` for ``QdrantClusterCatalog`` (which owns these fields)."""

    _client: QdrantClient
    _names: dict[str, str]
    _lock: ReadWriteLock
    _dims: sc.Dims | None

    def _create(self, dims: sc.Dims) -> None: ...

    def snapshot(self, dest: Path, *, progress: Progress | None = None) -> SnapshotManifest:
        """Write a backup archive to ``dest``; writers of this process wait."""
        with self._lock.writing():
            if self._dims is None:
                raise SnapshotError(
                    f"catalog {self._names[sc.VIDEOS]} is empty: nothing to back up"
                )
            return write_snapshot(
                dest, dims=self._dims, backend="qdrant", export=self._export, progress=progress
            )

    def _export(self, store: str) -> Iterator[list[StoredPoint]]:
        offset: Any = None
        while True:
            with self._lock.reading(), client_errors(f"backup of {store}"):
                points, offset = self._client.scroll(
                    self._names[store], limit=_BATCH, offset=offset, with_vectors=True
                )
            yield [_stored(p) for p in points]
            if offset is None:
                return

    def restore(
        self, archive: Path, *, force: bool = False, progress: Progress | None = None
    ) -> SnapshotManifest:
        """Replace both collections with a verified archive (see the module docstring)."""
        reader = SnapshotReader(archive)
        manifest = reader.manifest
        with self._lock.writing(), client_errors("restore"):
            held = {
                store: self._client.count(name, exact=True).count
                for store, name in self._names.items()
                if self._client.collection_exists(name)
            }
            if not force and any(held.values()):
                raise CatalogNotEmptyError(
                    f"catalog {self._names[sc.VIDEOS]} holds {held.get(sc.VIDEOS, 0)} videos: "
                    "restoring would replace them; back them up first, then pass force (--force)"
                )
            _drop_collections(self._client, self._names)
            self._dims = None
            self._create(manifest.dims)
            counts = _load_points(self._client, self._names, reader, progress)
            facet = self._client.facet(
                self._names[sc.VIDEOS], sc.F_MODEL_VERSION, limit=1000, exact=True
            )
            check_restored(manifest, counts, sorted(int(h.value) for h in facet.hits))
        return manifest


def _stored(point: m.Record) -> StoredPoint:
    vectors: Any = point.vector or {}
    return StoredPoint(str(point.id), dict(vectors), dict(point.payload or {}))


def _drop_collections(client: QdrantClient, names: Mapping[str, str]) -> None:
    """Videos first: without it the catalog reads as absent, never as half there."""
    for store in (sc.VIDEOS, sc.KEYFRAMES):
        if client.collection_exists(names[store]):
            client.delete_collection(names[store])


def _load_points(
    client: QdrantClient,
    names: Mapping[str, str],
    reader: SnapshotReader,
    progress: Progress | None,
) -> dict[str, int]:
    """Key frames first, video points (commit markers) last; returns point counts."""
    counts: dict[str, int] = {}
    for store in (sc.KEYFRAMES, sc.VIDEOS):
        done = 0
        for chunk in reader.points(store):
            points = [
                m.PointStruct(id=p.point_id, vector=_any(p.vectors), payload=p.payload)
                for p in chunk
            ]
            client.upsert(names[store], points, wait=True, ordering=m.WriteOrdering.STRONG)
            done += len(points)
            if progress:
                progress(store, done, reader.manifest.points.get(store, 0))
        counts[store] = client.count(names[store], exact=True).count
    return counts


def _any(vectors: dict[str, list[float]]) -> Any:
    """qdrant-client types ``vector`` as an invariant dict of unions; ours are plain lists."""
    return vectors
