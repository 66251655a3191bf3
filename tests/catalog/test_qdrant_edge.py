"""What only the embedded Qdrant Edge catalog promises: directory lock, binary
quantization exactness after optimisation, readers concurrent with a writer."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe

from vidsearch.catalog import CatalogError, CatalogUnavailableError, KeyFrame, QdrantEdgeCatalog
from vidsearch.catalog import schema as sc
from vidsearch.catalog.hash_index import HashIndex
from vidsearch.catalog.qdrant_edge_store import META_FILE, edge_config


def test_layout_and_second_open_of_a_directory(tmp_path: Path) -> None:
    with QdrantEdgeCatalog(tmp_path / "c", texture_dim=8, embedding_dim=None) as catalog:
        assert {p.name for p in (tmp_path / "c").iterdir()} >= {META_FILE, "videos", "keyframes"}
        with pytest.raises(CatalogUnavailableError):
            QdrantEdgeCatalog(tmp_path / "c")
        assert catalog.stats().videos == 0
    with pytest.raises(CatalogError):
        catalog.stats()  # closed


def test_binary_quantized_scan_is_exact_after_optimize(tmp_path: Path, mk) -> None:
    """Scores of ±1 codes under BQ with rescore=False equal 128 - 2*Hamming."""
    root = tmp_path / "c"
    n = 400
    codes = np.where(mk.rng.random((n, 128)) < 0.5, -1.0, 1.0).astype(np.float32)
    textures = mk.rng.normal(size=(n, 8)).astype(np.float32)
    with QdrantEdgeCatalog(root, texture_dim=8) as catalog:
        shard = catalog.shards[sc.VIDEOS]
        points = [
            qe.Point(
                sc.video_point_id(f"v{i}"),
                {sc.VEC_HASH: codes[i].tolist(), sc.VEC_TEXTURE: textures[i].tolist()},
                {sc.F_VIDEO_ID: f"v{i}", sc.F_GENERATION: 1},
            )
            for i in range(n)
        ]
        shard.update(qe.UpdateOperation.upsert_points(points))
        shard.flush()
    # Force quantized segments at this small size (the default threshold is megabytes).
    config = edge_config(sc.Dims(8, None), sc.VIDEOS, HashIndex())
    config = qe.EdgeConfig(
        vectors=config.vectors,
        wal_enabled=True,
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=1),
    )
    shard = qe.EdgeShard.load(str(root / sc.VIDEOS), config)
    assert shard.optimize()
    assert shard.info().indexed_vectors_count > 0
    shard.close()

    with QdrantEdgeCatalog(root) as catalog:
        for j in range(10):
            query = mk.flip(codes[j], 20 + j, start=j)
            truth = np.count_nonzero(codes != query, axis=1)
            found = catalog.search_videos(
                query, textures[j], max_hamming=45, coarse_limit=1000, limit=1000
            )
            assert sorted(int(c.info.video_id[1:]) for c in found) == sorted(
                np.flatnonzero(truth <= 45).tolist()
            )
            assert all(c.hamming == truth[int(c.info.video_id[1:])] for c in found)


def test_readers_never_see_a_half_written_video(tmp_path: Path, mk) -> None:
    """Versions with 3 and 1 frames alternate; every search sees exactly one version."""
    code, texture = mk.code(), mk.texture()
    frame_codes = [mk.code() for _ in range(3)]
    versions = []
    for version in range(2):
        count = 3 - 2 * version
        frames = [KeyFrame(100.0 * version + i, frame_codes[i], texture) for i in range(count)]
        versions.append(mk.video("v", code=code, texture=texture, frames=frames))
    queries = np.stack(frame_codes)
    textures = np.stack([texture] * 3)
    errors: list[str] = []
    with QdrantEdgeCatalog(tmp_path / "c", texture_dim=8) as catalog:
        catalog.upsert_video(versions[0])
        done = threading.Event()

        def read() -> None:
            while not done.is_set():
                if not catalog.search_videos(
                    code, texture, max_hamming=0, coarse_limit=10, limit=10
                ):
                    errors.append("video vanished during a re-index")
                rows = catalog.search_keyframes(queries, textures, max_hamming=0, limit_per_frame=5)
                seen = {int(h.time_s // 100) for row in rows for h in row}
                if len(seen) > 1:
                    errors.append(f"mixed versions {seen}")
                if sum(map(len, rows)) != (3 if seen == {0} else 1):
                    errors.append(f"partial version: {rows}")

        readers = [threading.Thread(target=read) for _ in range(2)]  # concurrent readers
        for t in readers:
            t.start()
        for i in range(8):
            catalog.upsert_video(versions[(i + 1) % 2])
        done.set()
        for t in readers:
            t.join()
        assert catalog.stats().keyframes == 3
    assert errors == []
