"""What only the Edge restore promises: the live directory changes by rename only, a crash
at any point leaves the old catalog or the new one, and an open catalog keeps serving."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vidsearch.catalog import CatalogError, CatalogNotEmptyError, QdrantEdgeCatalog
from vidsearch.catalog import qdrant_edge_backup as eb
from vidsearch.catalog.qdrant_edge_backup import (
    COMPLETE,
    REPLACED,
    RESTORING,
    stage_restore,
)
from vidsearch.catalog.snapshots import SnapshotReader


def make_archive(tmp_path: Path, mk, ids: list[str]) -> Path:
    with QdrantEdgeCatalog(tmp_path / "source", texture_dim=8, embedding_dim=4) as source:
        for video_id in ids:
            source.upsert_video(mk.video(video_id, frames=2, embedding=mk.embedding()))
        source.snapshot(tmp_path / "backup.tar")
    return tmp_path / "backup.tar"


def ids_in(root: Path) -> list[str]:
    with QdrantEdgeCatalog(root) as catalog:
        return sorted(v.video_id for v in catalog.iter_videos())


def test_crash_between_the_two_renames_is_finished_on_next_open(tmp_path: Path, mk) -> None:
    archive = make_archive(tmp_path, mk, ["new1", "new2"])
    root = tmp_path / "live"
    with QdrantEdgeCatalog(root, texture_dim=8, embedding_dim=4) as live:
        live.upsert_video(mk.video("old", frames=1))
    staged = stage_restore(root, SnapshotReader(archive), None)
    assert (staged / COMPLETE).is_file()
    root.rename(root.with_name(root.name + REPLACED))  # first rename done, then the crash

    assert ids_in(root) == ["new1", "new2"]
    assert not staged.exists() and not (root / COMPLETE).exists()
    assert not root.with_name(root.name + REPLACED).exists()


def test_crash_while_staging_leaves_the_old_catalog(tmp_path: Path, mk) -> None:
    root = tmp_path / "live"
    with QdrantEdgeCatalog(root, texture_dim=8, embedding_dim=4) as live:
        live.upsert_video(mk.video("old", frames=1))
    half = root.with_name(root.name + RESTORING)
    half.mkdir()
    (half / "videos").mkdir()  # no COMPLETE marker: never moved into place
    assert ids_in(root) == ["old"]


def test_open_catalog_serves_the_restored_data_and_readers_never_fail(tmp_path: Path, mk) -> None:
    archive = make_archive(tmp_path, mk, [f"new{i}" for i in range(20)])
    errors: list[BaseException] = []
    reads: list[int] = []
    stop = threading.Event()
    with QdrantEdgeCatalog(tmp_path / "live", texture_dim=8, embedding_dim=4) as live:
        old = mk.video("old", frames=3)
        live.upsert_video(old)

        def read() -> None:
            while not stop.is_set():
                try:
                    live.search_videos(
                        old.hash_bits, old.texture, max_hamming=None, coarse_limit=50, limit=5
                    )
                    live.stats()
                    reads.append(1)
                    time.sleep(0.01)
                except BaseException as exc:  # any failure is the finding
                    errors.append(exc)
                    return

        readers = [threading.Thread(target=read) for _ in range(3)]
        for t in readers:
            t.start()
        live.restore(archive, force=True)
        stop.set()
        for t in readers:
            t.join()
        assert errors == [] and reads
        assert live.stats().videos == 20 and live.get_video("old") is None
        hit = live.search_videos(
            np.asarray(mk.code()), mk.texture(), max_hamming=None, coarse_limit=50, limit=1
        )
        assert hit and hit[0].info.video_id.startswith("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.tar", "live", "source"]


def test_a_write_while_staging_refuses_the_swap_and_cleans_up(
    tmp_path: Path, mk, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_archive(tmp_path, mk, ["new"])
    real_stage = eb.stage_restore
    with QdrantEdgeCatalog(tmp_path / "live", texture_dim=8, embedding_dim=4) as live:

        def stage_then_write(root: Path, reader: SnapshotReader, progress: object) -> Path:
            staged = real_stage(root, reader, None)
            live.upsert_video(mk.video("landed", frames=1))  # an indexer got in first
            return staged

        monkeypatch.setattr(eb, "stage_restore", stage_then_write)
        with pytest.raises(CatalogNotEmptyError):
            live.restore(archive)
        assert [v.video_id for v in live.iter_videos()] == ["landed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.tar", "live", "source"]


def test_a_failed_swap_keeps_serving_the_old_catalog(
    tmp_path: Path, mk, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_archive(tmp_path, mk, ["new"])

    def refuse(staged: Path, root: Path) -> None:
        raise OSError(16, "Device or resource busy", str(root))  # e.g. root is a mount point

    monkeypatch.setattr(eb, "swap_in", refuse)
    with QdrantEdgeCatalog(tmp_path / "live", texture_dim=8, embedding_dim=4) as live:
        live.upsert_video(mk.video("old", frames=1))
        with pytest.raises(CatalogError, match="cannot move the restored catalog into place"):
            live.restore(archive, force=True)
        assert [v.video_id for v in live.iter_videos()] == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.tar", "live", "source"]
