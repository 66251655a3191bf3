"""Catalog backup archives: one portable file per catalog, checked before any restore.

Why not Qdrant's own snapshot files: Qdrant Edge 0.9.0 can apply a server snapshot
(``EdgeShard.unpack_snapshot`` / ``update_from_snapshot``) but cannot create one; on a
distributed cluster ``create_snapshot`` through one URL covers only the shards of the
node it reaches; and qdrant-client's local mode has no snapshots at all. So a backup
is a *logical* snapshot: every point (id, named vectors, payload) of both stores read
through the Qdrant API, packed as a tar of ``.npz`` chunks (no pickles) plus
``manifest.json`` with point counts, model versions, sizes, created_at and the
SHA-256 of every chunk. The same file restores into either backend (Edge <-> cluster).

Only committed data is written: key frames of a generation other than their video's
(left by a crashed write) are dropped, and a video whose key frames do not all show up
(it changed during the backup) fails the backup instead of storing a torn version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import CatalogError
from vidsearch.catalog.snapshot_chunks import (
    StoredPoint,
    chunk_summary,
    content_digest,
    pack_chunk,
    unpack_chunk,
    vector_sizes,
)

if TYPE_CHECKING:
    from vidsearch.catalog.point_store import PointStore

FORMAT = "vidsearch-catalog-snapshot"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STORES = (sc.VIDEOS, sc.KEYFRAMES)

Progress = Callable[[str, int, int], None]  # (store, points done, points expected or 0)


class SnapshotError(CatalogError):
    """The archive is unreadable, corrupt, or does not match what it claims to hold."""


class CatalogNotEmptyError(CatalogError):
    """A restore would overwrite an existing catalog and ``force`` was not given."""


@dataclass(frozen=True)
class SnapshotManifest:
    """What an archive holds; restore checks the data against it."""

    created_at: str
    source_backend: str
    texture_dim: int
    embedding_dim: int | None
    points: dict[str, int]  # store -> point count
    model_versions: tuple[int, ...]
    members: dict[str, str]  # archive member -> sha256
    sha256: str  # over the sorted member digests: one value naming the content
    schema_version: int = sc.SCHEMA_VERSION
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    text_dim: int | None = None  # text-search vectors; absent in older archives
    sentence_dim: int | None = None  # caption sentence vectors; absent in older archives

    @property
    def dims(self) -> sc.Dims:
        return sc.Dims(self.texture_dim, self.embedding_dim, self.text_dim, self.sentence_dim)


@runtime_checkable
class CatalogSnapshots(Protocol):
    """Backup and restore of a whole catalog (both backends implement it)."""

    def snapshot(self, dest: Path, *, progress: Progress | None = None) -> SnapshotManifest:
        """Write a backup archive to ``dest`` (atomically) and return its manifest."""
        ...

    def restore(
        self, archive: Path, *, force: bool = False, progress: Progress | None = None
    ) -> SnapshotManifest:
        """Replace the catalog with a verified archive; refuse a non-empty one unless force."""
        ...


class _ArchiveWriter:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members: dict[str, str] = {}

    def add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime = len(data), int(datetime.now(UTC).timestamp())
        self.tar.addfile(info, io.BytesIO(data))
        self.members[name] = hashlib.sha256(data).hexdigest()


def write_snapshot(
    dest: Path,
    *,
    dims: sc.Dims,
    backend: str,
    export: Callable[[str], Iterable[list[StoredPoint]]],
    progress: Progress | None = None,
) -> SnapshotManifest:
    """Export both stores into ``dest`` (written to ``dest.partial``, then renamed)."""
    dest = Path(dest)
    partial = dest.with_name(dest.name + ".partial")
    counts = dict.fromkeys(STORES, 0)
    committed: dict[str, tuple[int, int]] = {}  # video_id -> (generation, keyframe_count)
    frames_seen: dict[str, int] = {}
    versions: set[int] = set()
    try:
        with tarfile.open(partial, "w") as tar:
            writer = _ArchiveWriter(tar)
            for store in STORES:
                for chunk in export(store):
                    if store == sc.VIDEOS:
                        for p in chunk:
                            vid = str(p.payload[sc.F_VIDEO_ID])
                            committed[vid] = (
                                int(p.payload[sc.F_GENERATION]),
                                int(p.payload.get("keyframe_count", 0)),
                            )
                            versions.add(int(p.payload.get(sc.F_MODEL_VERSION, 0)))
                    else:
                        chunk = [p for p in chunk if _is_committed(p, committed, frames_seen)]
                    if not chunk:
                        continue
                    name = f"{store}/{len(writer.members):06d}.npz"
                    writer.add(name, pack_chunk(chunk, vector_sizes(dims, store)))
                    counts[store] += len(chunk)
                    if progress:
                        progress(store, counts[store], 0)
            torn = sorted(v for v, (_, n) in committed.items() if frames_seen.get(v, 0) != n)
            if torn:
                raise SnapshotError(
                    f"{len(torn)} video(s) changed while the backup ran (e.g. {torn[0]!r}); "
                    "stop indexing and run the backup again"
                )
            manifest = SnapshotManifest(
                created_at=datetime.now(UTC).isoformat(),
                source_backend=backend,
                texture_dim=dims.texture,
                embedding_dim=dims.embedding,
                text_dim=dims.text,
                sentence_dim=dims.sentence,
                points=counts,
                model_versions=tuple(sorted(versions)),
                members=dict(writer.members),
                sha256=content_digest(writer.members),
            )
            writer.add(MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        partial.replace(dest)
        fsync_dir(dest.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return manifest


def fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry is data too."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_committed(
    point: StoredPoint, committed: dict[str, tuple[int, int]], seen: dict[str, int]
) -> bool:
    vid = str(point.payload[sc.F_VIDEO_ID])
    if committed.get(vid, (None, 0))[0] != int(point.payload[sc.F_GENERATION]):
        return False  # left by a crashed or concurrent write: invisible, not backed up
    seen[vid] = seen.get(vid, 0) + 1
    return True


class SnapshotReader:
    """An archive whose every chunk was checked against its manifest on opening: bytes
    (sha256), decoding, point counts and model versions, so a restore that starts has
    data that will load."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SnapshotError(f"{self.path}: no such snapshot file")
        try:
            with tarfile.open(self.path, "r:") as tar:
                self.manifest = _read_manifest(tar, self.path)
                found = {m.name for m in tar.getmembers() if m.isfile()} - {MANIFEST}
                if found != set(self.manifest.members):
                    raise SnapshotError(f"{self.path}: members differ from the manifest")
                counts, versions = dict.fromkeys(STORES, 0), set()
                for name, want in self.manifest.members.items():
                    data = _read(tar, name)
                    if hashlib.sha256(data).hexdigest() != want:
                        raise SnapshotError(f"{self.path}: {name} is corrupt (sha256 mismatch)")
                    store = name.split("/", 1)[0]
                    sizes = vector_sizes(self.manifest.dims, store)
                    count, payloads = chunk_summary(data, sizes, with_payloads=store == sc.VIDEOS)
                    counts[store] = counts.get(store, 0) + count
                    versions |= {int(p.get(sc.F_MODEL_VERSION, 0)) for p in payloads}
        except (tarfile.TarError, EOFError, OSError, ValueError, KeyError) as exc:
            raise SnapshotError(f"{self.path}: not a readable snapshot archive ({exc})") from exc
        if content_digest(self.manifest.members) != self.manifest.sha256:
            raise SnapshotError(f"{self.path}: manifest sha256 does not match its members")
        check_restored(self.manifest, counts, sorted(versions))  # before anything is touched

    def points(self, store: str) -> Iterator[list[StoredPoint]]:
        """Chunks of one store, in the order they were written."""
        sizes = vector_sizes(self.manifest.dims, store)
        names = sorted(n for n in self.manifest.members if n.startswith(f"{store}/"))
        try:
            with tarfile.open(self.path, "r:") as tar:
                for name in names:
                    data = _read(tar, name)
                    if hashlib.sha256(data).hexdigest() != self.manifest.members[name]:
                        raise SnapshotError(f"{self.path}: {name} changed since it was checked")
                    yield unpack_chunk(data, sizes)
        except (tarfile.TarError, EOFError, OSError, ValueError, KeyError) as exc:
            raise SnapshotError(f"{self.path}: cannot read {store} ({exc})") from exc


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise SnapshotError(f"{name} is not a file")
    return handle.read()


def _read_manifest(tar: tarfile.TarFile, path: Path) -> SnapshotManifest:
    try:
        raw = json.loads(_read(tar, MANIFEST))
        raw["model_versions"] = tuple(raw["model_versions"])
        manifest = SnapshotManifest(**raw)
    except KeyError as exc:
        raise SnapshotError(f"{path}: no {MANIFEST}: not a vidsearch catalog snapshot") from exc
    except (ValueError, TypeError) as exc:
        raise SnapshotError(f"{path}: unreadable {MANIFEST} ({exc})") from exc
    if manifest.format != FORMAT or manifest.format_version != FORMAT_VERSION:
        raise SnapshotError(
            f"{path}: format {manifest.format!r} v{manifest.format_version}, this vidsearch "
            f"reads {FORMAT!r} v{FORMAT_VERSION}"
        )
    if manifest.schema_version != sc.SCHEMA_VERSION:
        raise SnapshotError(f"{path}: catalog schema {manifest.schema_version} is not supported")
    return manifest


def check_restored(
    manifest: SnapshotManifest, counts: dict[str, int], versions: Sequence[int]
) -> None:
    """The archive (or the restored store) must hold exactly what the manifest names."""
    if counts != manifest.points or tuple(versions) != manifest.model_versions:
        raise SnapshotError(
            f"the data holds {counts} (model versions {tuple(versions)}), the "
            f"snapshot names {manifest.points} ({manifest.model_versions})"
        )


def load_archive(store: PointStore, reader: SnapshotReader, progress: Progress | None) -> None:
    """Write an archive's points into empty stores, key frames first and video points (the
    commit markers) last, as an upsert does; then check them against the manifest."""
    manifest = reader.manifest
    counts: dict[str, int] = {}
    for name in (sc.KEYFRAMES, sc.VIDEOS):
        done = 0
        for chunk in reader.points(name):
            store.upsert(name, chunk)
            done += len(chunk)
            if progress:
                progress(name, done, manifest.points.get(name, 0))
        store.flush(name)
        counts[name] = store.count(name)
    versions = sorted(int(v) for v in store.facet(sc.VIDEOS, sc.F_MODEL_VERSION))
    check_restored(manifest, counts, versions)
