"""Congruence: one workload on Qdrant Edge and on qdrant-client's local mode, same answers.

As qdrant-client's ``tests/congruence_tests`` run each call on its local mode and on a
server and compare, this runs one catalog workload (indexing with key frames and text,
a re-index, a delete, a crashed write, then every kind of read) on both point stores
under the one ``QdrantCatalog`` and compares what comes back: the same ids in the same
order, scores within float tolerance. The workload avoids ties at every cut-off (codes
at distinct Hamming distances, limits above the candidate counts where scores could
tie), so any difference is the engines', not the order of equals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vidsearch.catalog import Catalog, KeyFrame, QdrantCatalog

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # local mode: "no effect" notes

SCORE_TOLERANCE = 1e-4


def workload(catalog: Catalog, backend: Any, mk: Any) -> dict[str, Any]:
    """Write a small catalog, read it every way; named observations (floats kept raw).
    ``backend``, ``mk``: conftest's Backend (for a crashed write) and a fresh Maker."""
    query = mk.code()
    videos = {}
    frame_codes = [mk.code() for _ in range(4)]
    for i, flips in enumerate((2, 5, 9, 14, 20, 40)):  # distinct Hamming to the query
        # Key frames near the shared ones, each video at other distances (no ties).
        frames = [
            KeyFrame(float(t), mk.flip(code, 1 + i * 4 + t, start=t), mk.texture())
            for t, code in enumerate(frame_codes[: 2 + i % 3])
        ]
        text_version = 2 if i == 5 else 1
        videos[f"v{i}"] = mk.video(
            f"v{i}", code=mk.flip(query, flips), frames=frames, embedding=mk.embedding(),
            text=mk.text(frames=2, model_version=text_version) if i != 4 else None,
            model_version=3 if i == 3 else 1,  # v3 is deleted: its version must go too
        )
    for video in videos.values():
        catalog.upsert_video(video)
    videos["v1"] = mk.video("v1", code=mk.flip(query, 5), frames=mk.frames(3),
                            embedding=mk.embedding(), text=mk.text())
    catalog.upsert_video(videos["v1"])  # re-indexed: the old frames must not show
    assert catalog.delete_video("v3") is True
    backend.write_frames_only(catalog, mk.video("ghost", frames=4), generation=1)  # crashed

    texture = mk.texture()
    rows = np.stack(frame_codes), np.stack([mk.texture() for _ in frame_codes])
    text_query = mk.text().embedding
    knn_query = np.stack([f.texture for f in videos["v0"].keyframes] + [mk.texture()])

    def videos_found(**kw: Any) -> list[tuple[str, int, float]]:
        found = catalog.search_videos(query, texture, **kw)
        return [(c.info.video_id, c.hamming, c.texture_distance) for c in found]

    return {
        "all videos, reranked": videos_found(max_hamming=None, coarse_limit=100, limit=10),
        "within Hamming 10": videos_found(max_hamming=10, coarse_limit=100, limit=10),
        "coarse top 3, reranked": videos_found(max_hamming=None, coarse_limit=3, limit=10),
        "limit 2": videos_found(max_hamming=None, coarse_limit=100, limit=2),
        "key frames within 12": [
            [(h.video_id, h.time_s, h.hamming, h.texture_distance) for h in row]
            for row in catalog.search_keyframes(*rows, max_hamming=12, limit_per_frame=3)
        ],
        "every key frame": [
            [(h.video_id, h.time_s, h.hamming, h.texture_distance) for h in row]
            for row in catalog.search_keyframes(*rows, max_hamming=None, limit_per_frame=100)
        ],
        "text, version 1": [
            (c.info.video_id, c.similarity, c.features.local.tolist())
            for c in catalog.search_text(text_query, limit=10, model_version=1)
        ],
        "text, version 2": [
            (c.info.video_id, c.similarity)
            for c in catalog.search_text(text_query, limit=10, model_version=2)
        ],
        "recommendations": [
            (info.video_id, score) for info, score in catalog.nearest_by_embedding("v0", 3)
        ],
        "key-frame vectors": {
            vid: (times.tolist(), textures.tolist())
            for vid, (times, textures) in sorted(
                catalog.keyframe_vectors(["v0", "v1", "v3", "ghost", "missing"]).items()
            )
        },
        "kth neighbour": [
            catalog.kth_neighbour_similarity(knn_query, k).tolist() for k in (1, 2, 5, 99)
        ],
        "stats": catalog.stats(),
        "listed": sorted((v.video_id, v.keyframe_count, v.model_version)
                         for v in catalog.iter_videos(batch=2)),
        "same file": catalog.find_by_content("ab" * 32),
    }


def assert_congruent(a: Any, b: Any, where: str = "") -> None:
    """Equal structure and values; floats (NaN included) within SCORE_TOLERANCE."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, float | int) and isinstance(b, float | int), where
        if np.isnan(a) or np.isnan(b):
            assert np.isnan(a) and np.isnan(b), f"{where}: {a} != {b}"
        else:
            assert a == pytest.approx(b, abs=SCORE_TOLERANCE), f"{where}: {a} != {b}"
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{where}: {a} != {b}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_congruent(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{where}: {list(a)} != {b}"
        for key in a:
            assert_congruent(a[key], b[key], f"{where}[{key!r}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_edge_and_local_mode_give_the_same_answers(make_backend: Any, mk: Any) -> None:
    edge, local = make_backend("edge", "edge"), make_backend("local", "local")
    on_edge = workload(edge.open(), edge, type(mk)(seed=7))
    on_local = workload(local.open(), local, type(mk)(seed=7))
    for name in on_edge:
        assert_congruent(on_edge[name], on_local[name], name)
    # The workload is not vacuous: every read found something where it should.
    assert [v for v, _, _ in on_edge["all videos, reranked"]] and len(on_edge["limit 2"]) == 2
    assert {v for v, _, _ in on_edge["coarse top 3, reranked"]} == {"v0", "v1", "v2"}
    assert all(on_edge["key frames within 12"]) and on_edge["text, version 2"]
    assert "v3" not in str(on_edge) and "ghost" not in str(on_edge)
    assert set(on_edge["key-frame vectors"]) == {"v0", "v1"}
    assert on_edge["stats"].videos == 5 and on_edge["stats"].model_versions == (1,)


def tag_workload(catalog: Catalog, mk: Any) -> dict[str, Any]:
    """The tag library's writes and reads; vectors random, so no ties at any cut-off."""
    from vidsearch.catalog.tags import TagVector

    assert isinstance(catalog, QdrantCatalog)
    tags = catalog.tag_library(6)

    def unit() -> np.ndarray:
        v = mk.rng.normal(size=6).astype(np.float32)
        return np.asarray(v / np.linalg.norm(v), dtype=np.float32)

    vectors = {f"tag {i}": unit() for i in range(30)}
    added = tags.upsert([TagVector(t, v, 1 if i % 7 else 2, "feed")
                         for i, (t, v) in enumerate(vectors.items())])
    replaced = tags.upsert([TagVector("tag 1", unit(), 1)])
    deleted = tags.delete(["tag 2", "tag 99"])
    query = unit()
    pages, token = [], ""
    while True:
        page, token = tags.page(7, token)
        pages.append([(t.text, t.model_version) for t in page])
        if not token:
            break
    return {
        "added": added, "replaced": replaced, "deleted": deleted,
        "nearest 5": [(h.tag.text, h.distance) for h in tags.nearest(query, limit=5,
                                                                      model_version=1)],
        "within 0.8": [(h.tag.text, h.distance) for h in tags.nearest(
            query, limit=30, model_version=1, max_distance=0.8)],
        "version 2": [h.tag.text for h in tags.nearest(query, limit=30, model_version=2)],
        "pages": pages,
        "stale": sorted(t.text for batch in tags.stale(1) for t in batch),
        "count": tags.count(),
    }


def test_the_tag_library_gives_the_same_answers_on_both_stores(make_backend: Any, mk: Any) -> None:
    edge, local = make_backend("edge", "edge"), make_backend("local", "local")
    on_edge = tag_workload(edge.open(), type(mk)(seed=11))
    on_local = tag_workload(local.open(), type(mk)(seed=11))
    for name in on_edge:
        assert_congruent(on_edge[name], on_local[name], name)
    assert on_edge["replaced"] == [False] and on_edge["deleted"] == [True, False]
    assert len(on_edge["nearest 5"]) == 5 and on_edge["version 2"] and on_edge["count"] == 29
    assert 0 < len(on_edge["within 0.8"]) < 25
