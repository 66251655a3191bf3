"""Backup and restore, the same for every backend (Qdrant Edge, qdrant-client local mode).

qdrant-client's local mode has no collection snapshots (``create_snapshot`` raises
NotImplementedError), which is one reason the archive is a logical snapshot read
through the query API: the very code path that talks to a cluster is what runs here.
Not covered: a real multi-node cluster (no Qdrant server in this environment).
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from vidsearch.catalog import (
    Catalog,
    CatalogNotEmptyError,
    CatalogSnapshots,
    SnapshotError,
)
from vidsearch.catalog.snapshots import MANIFEST

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # local mode: "no effect" notes


def fill(catalog: Catalog, mk) -> None:
    """Two model versions, videos with and without embeddings, text features, key frames."""
    for i in range(12):
        emb = mk.embedding() if i % 3 else None
        text = mk.text(frames=1 + i % 3) if i % 2 else None
        catalog.upsert_video(
            mk.video(f"v{i:02d}", frames=i % 4, embedding=emb, model_version=1 + i % 2,
                     text=text)
        )


def observe(catalog: Catalog, mk) -> dict[str, object]:
    """Everything a user can read back: stats, metadata, searches, neighbours."""
    probe = type(mk)(seed=99)  # the same probes whatever ``mk`` generated before
    infos = sorted(catalog.iter_videos(), key=lambda v: v.video_id)
    codes = np.stack([probe.code() for _ in range(3)])
    textures = np.stack([probe.texture() for _ in range(3)])
    videos = catalog.search_videos(
        codes[0], textures[0], max_hamming=None, coarse_limit=100, limit=100
    )
    frames = catalog.search_keyframes(codes, textures, max_hamming=None, limit_per_frame=50)
    neighbours = {
        v.video_id: [
            (i.video_id, round(s, 5)) for i, s in catalog.nearest_by_embedding(v.video_id, 3)
        ]
        for v in infos
    }
    text = [
        (c.info.video_id, round(c.similarity, 5), c.features.local.round(3).tolist(),
         c.features.frames.round(3).tolist())
        for c in catalog.search_text(probe.text().embedding, limit=20, model_version=1)
    ]
    return {
        "text": text,
        "stats": catalog.stats(),
        "infos": infos,
        "videos": [(c.info.video_id, c.hamming, round(c.texture_distance, 5)) for c in videos],
        "frames": [[(h.video_id, h.time_s, h.hamming) for h in row] for row in frames],
        "neighbours": neighbours,
    }


def other_kind(kind: str) -> str:
    return "local" if kind == "edge" else "edge"


@pytest.mark.parametrize("target", ["same", "other"])
def test_backup_wipe_restore_gives_identical_catalog(
    backend, make_backend, mk, tmp_path: Path, target: str
) -> None:
    catalog = backend.open()
    fill(catalog, mk)
    before = observe(catalog, mk)
    assert len(before["text"]) == 6  # the odd videos carry text features
    assert isinstance(catalog, CatalogSnapshots)
    seen: list[tuple[str, int, int]] = []
    manifest = catalog.snapshot(tmp_path / "backup.tar", progress=lambda *a: seen.append(a))
    assert manifest.points == {"videos": 12, "keyframes": 18}
    assert manifest.model_versions == (1, 2) and len(manifest.sha256) == 64
    assert seen[-1][:2] == ("keyframes", 18)
    catalog.close()
    shutil.rmtree(backend.path)  # the catalog is gone

    kind = backend.kind if target == "same" else other_kind(backend.kind)
    fresh = make_backend(kind, "fresh")
    restored = fresh.open(texture_dim=None, embedding_dim=None)
    assert isinstance(restored, CatalogSnapshots)
    assert restored.restore(tmp_path / "backup.tar") == manifest
    assert observe(restored, mk) == before
    restored.close()
    assert observe(fresh.open(texture_dim=None, embedding_dim=None), mk) == before  # on disk


def test_restore_refuses_a_non_empty_catalog_unless_forced(
    backend, make_backend, mk, tmp_path: Path
) -> None:
    source = backend.open()
    fill(source, mk)
    assert isinstance(source, CatalogSnapshots)
    source.snapshot(tmp_path / "backup.tar")
    want = observe(source, mk)
    target = make_backend(backend.kind, "other").open()
    target.upsert_video(mk.video("mine", frames=2))
    assert isinstance(target, CatalogSnapshots)
    with pytest.raises(CatalogNotEmptyError, match="force"):
        target.restore(tmp_path / "backup.tar")
    assert [v.video_id for v in target.iter_videos()] == ["mine"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".restoring")]
    target.restore(tmp_path / "backup.tar", force=True)
    assert target.get_video("mine") is None
    assert observe(target, mk) == want


def corrupt_member(archive: Path, dest: Path) -> None:
    """Copy ``archive`` with one byte of its first data chunk flipped."""
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name != MANIFEST)
    data[member.offset_data + member.size // 2] ^= 0xFF
    dest.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "not a tar", "no manifest"])
def test_damaged_archive_is_refused_and_catalog_untouched(
    backend, mk, tmp_path: Path, damage: str
) -> None:
    catalog = backend.open()
    fill(catalog, mk)
    assert isinstance(catalog, CatalogSnapshots)
    good = tmp_path / "good.tar"
    catalog.snapshot(good)
    bad = tmp_path / "bad.tar"
    if damage == "flipped byte":
        corrupt_member(good, bad)
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "not a tar":
        bad.write_text("hello")
    else:
        with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
            for m in src.getmembers():
                if m.name != MANIFEST:
                    dst.addfile(m, src.extractfile(m))
    catalog.upsert_video(mk.video("extra", frames=1))  # differs from the archive
    before = observe(catalog, mk)
    with pytest.raises(SnapshotError):
        catalog.restore(bad, force=True)
    assert observe(catalog, mk) == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".restoring")]
    catalog.restore(good, force=True)  # the intact archive still restores
    assert catalog.get_video("extra") is None


def test_crashed_writes_are_not_backed_up(backend, mk, tmp_path: Path) -> None:
    catalog = backend.open()
    catalog.upsert_video(mk.video("v1", frames=3))
    backend.write_frames_only(catalog, mk.video("v1", frames=2), generation=1)  # died mid-upsert
    backend.write_frames_only(catalog, mk.video("ghost", frames=2), generation=1)
    assert catalog.stats().keyframes == 7
    assert isinstance(catalog, CatalogSnapshots)
    manifest = catalog.snapshot(tmp_path / "backup.tar")
    assert manifest.points == {"videos": 1, "keyframes": 3}


def test_empty_catalog_has_nothing_to_back_up(backend, tmp_path: Path) -> None:
    catalog = backend.open(texture_dim=None, embedding_dim=None)
    assert isinstance(catalog, CatalogSnapshots)
    with pytest.raises(SnapshotError, match="empty"):
        catalog.snapshot(tmp_path / "backup.tar")
    assert not (tmp_path / "backup.tar").exists()
