"""The behaviour every catalog backend must share (Qdrant Edge, qdrant-client local mode)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vidsearch.catalog import (
    Catalog,
    CatalogStats,
    IncompatibleModelError,
    KeyFrame,
    VideoNotFoundError,
)
from vidsearch.catalog import schema as sc
from vidsearch.deadline import DeadlineExceededError, RequestBudget, RequestCancelledError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # local mode: "no effect" notes


def search(catalog: Catalog, code: np.ndarray, texture: np.ndarray, **kw: object) -> list:
    args: dict = {"max_hamming": None, "coarse_limit": 100, "limit": 100} | kw
    return catalog.search_videos(code, texture, **args)


def test_upsert_get_delete(catalog: Catalog, mk) -> None:
    video = mk.video("v1", frames=3, embedding=mk.embedding(), model_version=7)
    catalog.upsert_video(video)
    info = catalog.get_video("v1")
    assert info is not None
    assert (info.video_id, info.keyframe_count, info.model_version) == ("v1", 3, 7)
    assert (info.title, info.tags, info.source) == ("title v1", ("a", "b"), "test")
    assert info.duration_s == 12.5 and info.content_sha256 == "ab" * 32
    assert catalog.stats() == CatalogStats(videos=1, keyframes=3, model_versions=(7,))

    assert catalog.delete_video("v1") is True
    assert catalog.get_video("v1") is None
    assert catalog.delete_video("v1") is False
    assert catalog.stats().videos == 0 and catalog.stats().keyframes == 0
    assert search(catalog, video.hash_bits, video.texture) == []
    frame = video.keyframes[0]
    hits = catalog.search_keyframes(
        frame.hash_bits[None], frame.texture[None], max_hamming=0, limit_per_frame=5
    )
    assert hits == [[]]


def test_reindex_same_id_is_idempotent_and_drops_stale_frames(catalog: Catalog, mk) -> None:
    old = mk.video("v1", frames=5, embedding=mk.embedding())
    catalog.upsert_video(old)
    catalog.upsert_video(mk.video("other", frames=2))
    catalog.upsert_video(old)
    assert catalog.stats() == CatalogStats(videos=2, keyframes=7, model_versions=(1,))

    new = mk.video("v1", frames=2, model_version=2)
    catalog.upsert_video(new)
    assert catalog.stats() == CatalogStats(videos=2, keyframes=4, model_versions=(1, 2))
    info = catalog.get_video("v1")
    assert info is not None and info.keyframe_count == 2 and info.model_version == 2
    old_codes = np.stack([f.hash_bits for f in old.keyframes])
    old_tex = np.stack([f.texture for f in old.keyframes])
    rows = catalog.search_keyframes(old_codes, old_tex, max_hamming=0, limit_per_frame=3)
    assert rows == [[]] * 5
    # The new version replaced the old whole-video code too.
    hits = search(catalog, old.hash_bits, old.texture, max_hamming=0)
    assert hits == []
    assert [
        c.info.video_id for c in search(catalog, new.hash_bits, new.texture, max_hamming=0)
    ] == ["v1"]


@pytest.mark.parametrize("threshold", [0, 5, 40])
def test_coarse_filter_respects_hamming_threshold_exactly(catalog: Catalog, mk, threshold) -> None:
    query = mk.code()
    texture = mk.texture()
    catalog.upsert_video(mk.video("at", code=mk.flip(query, threshold), texture=texture))
    catalog.upsert_video(mk.video("past", code=mk.flip(query, threshold + 1), texture=texture))
    found = search(catalog, query, texture, max_hamming=threshold)
    assert [(c.info.video_id, c.hamming) for c in found] == [("at", threshold)]
    wider = search(catalog, query, texture, max_hamming=threshold + 1)
    assert {(c.info.video_id, c.hamming) for c in wider} == {
        ("at", threshold),
        ("past", threshold + 1),
    }
    if threshold:
        assert search(catalog, query, texture, max_hamming=threshold - 1) == []
    assert {c.info.video_id for c in search(catalog, query, texture, max_hamming=None)} == {
        "at",
        "past",
    }


def test_coarse_limit_keeps_the_nearest_codes_then_limit_cuts(catalog: Catalog, mk) -> None:
    query, texture = mk.code(), mk.texture()
    # Hamming 1..8, but textures get nearer as codes get farther: the rerank must only
    # see the coarse_limit nearest codes.
    for d in range(1, 9):
        catalog.upsert_video(mk.video(f"d{d}", code=mk.flip(query, d), texture=texture + 9 - d))
    found = search(catalog, query, texture, max_hamming=20, coarse_limit=3)
    assert [c.info.video_id for c in found] == ["d3", "d2", "d1"]
    found = search(catalog, query, texture, max_hamming=20, coarse_limit=3, limit=2)
    assert [c.info.video_id for c in found] == ["d3", "d2"]
    found = search(catalog, query, texture, max_hamming=5, coarse_limit=100, limit=100)
    assert [c.hamming for c in found] == [5, 4, 3, 2, 1]


def test_rerank_orders_by_texture_distance_with_exact_distances(catalog: Catalog, mk) -> None:
    query, qtex = mk.code(), mk.texture()
    videos = [
        mk.video(f"v{i}", code=mk.flip(query, 3 * i, start=i), texture=mk.texture())
        for i in range(6)
    ]
    for v in videos:
        catalog.upsert_video(v)
    found = search(catalog, query, qtex, max_hamming=30)
    expected = sorted(videos, key=lambda v: float(np.linalg.norm(v.texture - qtex)))
    assert [c.info.video_id for c in found] == [v.video_id for v in expected]
    for cand, video in zip(found, expected, strict=True):
        assert cand.hamming == int(np.count_nonzero(video.hash_bits != query))
        assert cand.texture_distance == pytest.approx(np.linalg.norm(video.texture - qtex), 1e-5)
    cut = (found[2].texture_distance + found[3].texture_distance) / 2
    capped = search(catalog, query, qtex, max_hamming=30, max_texture_distance=cut)
    assert [c.info.video_id for c in capped] == [c.info.video_id for c in found[:3]]


def test_keyframe_batch_search(catalog: Catalog, mk) -> None:
    a = mk.video("a", frames=4)
    b = mk.video("b", frames=3)
    catalog.upsert_video(a)
    catalog.upsert_video(b)
    target = a.keyframes[2]
    near_b = b.keyframes[1]
    codes = np.stack([mk.flip(target.hash_bits, 2), near_b.hash_bits, mk.code()])
    texs = np.stack([target.texture, near_b.texture, mk.texture()])
    rows = catalog.search_keyframes(codes, texs, max_hamming=3, limit_per_frame=5)
    assert len(rows) == 3
    assert [(h.video_id, h.time_s, h.hamming) for h in rows[0]] == [("a", 2.0, 2)]
    assert rows[0][0].texture_distance == pytest.approx(0.0, abs=1e-6)
    assert [(h.video_id, h.time_s, h.hamming) for h in rows[1]] == [("b", 1.0, 0)]
    assert rows[2] == []
    # Without a threshold every frame comes back, nearest first, limited per row.
    rows = catalog.search_keyframes(codes[:1], texs[:1], max_hamming=None, limit_per_frame=4)
    assert len(rows[0]) == 4
    assert rows[0][0].video_id == "a" and rows[0][0].time_s == 2.0
    assert [h.hamming for h in rows[0]] == sorted(h.hamming for h in rows[0])
    empty = np.zeros((0, codes.shape[1]), np.float32)
    assert catalog.search_keyframes(empty, texs[:0], max_hamming=3, limit_per_frame=2) == []


def test_keyframe_threshold_is_exact(catalog: Catalog, mk) -> None:
    query = mk.code()
    frames = [KeyFrame(float(d), mk.flip(query, d), mk.texture()) for d in (9, 10, 11)]
    catalog.upsert_video(mk.video("v", frames=frames))
    rows = catalog.search_keyframes(
        query[None], mk.texture()[None], max_hamming=10, limit_per_frame=10
    )
    assert [(h.time_s, h.hamming) for h in rows[0]] == [(9.0, 9), (10.0, 10)]


def test_embedding_neighbours(catalog: Catalog, mk) -> None:
    base = mk.embedding()
    for i in range(5):
        emb = base + 0.2 * i * mk.embedding()
        catalog.upsert_video(mk.video(f"v{i}", embedding=emb))
    catalog.upsert_video(mk.video("plain"))  # no embedding: never a neighbour
    hits = catalog.nearest_by_embedding("v0", 3)
    assert len(hits) == 3
    ids = [info.video_id for info, _ in hits]
    assert "v0" not in ids and "plain" not in ids
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0 + 1e-6 for s in scores)
    assert len(catalog.nearest_by_embedding("v0", 10)) == 4
    assert catalog.nearest_by_embedding("plain", 3) == []
    with pytest.raises(VideoNotFoundError):
        catalog.nearest_by_embedding("missing", 3)


def test_persistence_across_close_and_reopen(backend, mk) -> None:
    catalog = backend.open()
    video = mk.video("v1", frames=3, embedding=mk.embedding())
    catalog.upsert_video(video)
    catalog.upsert_video(mk.video("v2", embedding=mk.embedding()))
    before = catalog.stats()
    catalog.close()
    catalog.close()  # idempotent

    reopened = backend.open(texture_dim=None, embedding_dim=None)  # sizes come from the store
    assert reopened.stats() == before
    assert reopened.get_video("v1") is not None
    assert search(reopened, video.hash_bits, video.texture, max_hamming=0)[0].info.video_id == "v1"
    frame = video.keyframes[1]
    rows = reopened.search_keyframes(
        frame.hash_bits[None], frame.texture[None], max_hamming=0, limit_per_frame=1
    )
    assert [(h.video_id, h.time_s) for h in rows[0]] == [("v1", 1.0)]
    assert [i.video_id for i, _ in reopened.nearest_by_embedding("v1", 5)] == ["v2"]
    reopened.close()
    with pytest.raises(IncompatibleModelError):
        backend.open(texture_dim=16)


def test_created_lazily_from_the_first_video(backend, mk) -> None:
    catalog = backend.open(texture_dim=None, embedding_dim=None)
    assert catalog.stats() == CatalogStats(0, 0)
    assert catalog.get_video("x") is None
    assert search(catalog, mk.code(), mk.texture()) == []
    catalog.upsert_video(mk.video("v1", frames=1))
    assert catalog.stats().videos == 1
    with pytest.raises(ValueError):
        catalog.upsert_video(mk.video("v2", embedding=mk.embedding()))  # no embedding_dim


def test_not_found_and_invalid_input(catalog: Catalog, mk) -> None:
    assert catalog.get_video("nope") is None
    assert catalog.delete_video("nope") is False
    with pytest.raises(VideoNotFoundError):
        catalog.nearest_by_embedding("nope", 1)
    with pytest.raises(ValueError):
        catalog.upsert_video(mk.video("bad", code=np.zeros(128, np.float32)))
    with pytest.raises(ValueError):
        catalog.upsert_video(mk.video("bad", texture=np.ones(3, np.float32)))
    with pytest.raises(ValueError):
        search(catalog, mk.code(), mk.texture(), max_hamming=129)
    with pytest.raises(ValueError):
        search(catalog, mk.code()[:64], mk.texture())
    assert catalog.stats() == CatalogStats(0, 0)


def test_batch_upsert_writes_each_video_whole_with_one_flush_per_step(
    catalog: Catalog, mk, monkeypatch
) -> None:
    old = mk.video("v1", frames=5, embedding=mk.embedding())
    catalog.upsert_video(old)
    batch = [mk.video("v1", frames=2, model_version=2), mk.video("v2", frames=3),
             mk.video("v3", frames=1, embedding=mk.embedding())]  # fmt: skip
    flushes: list[str] = []
    store = catalog.store  # type: ignore[attr-defined]
    real_flush = store.flush
    monkeypatch.setattr(store, "flush", lambda name: (flushes.append(name), real_flush(name)))
    catalog.upsert_videos(batch)
    assert len(flushes) == 3  # frames, commit markers, stale frames: not 3 per video
    assert catalog.stats() == CatalogStats(videos=3, keyframes=6, model_versions=(1, 2))
    for video in batch:
        info = catalog.get_video(video.video_id)
        assert info is not None and info.keyframe_count == len(video.keyframes)
        assert info.model_version == video.model_version
        hits = search(catalog, video.hash_bits, video.texture, max_hamming=0)
        assert [c.info.video_id for c in hits] == [video.video_id]
    old_codes = np.stack([f.hash_bits for f in old.keyframes])
    old_tex = np.stack([f.texture for f in old.keyframes])
    assert catalog.search_keyframes(old_codes, old_tex, max_hamming=0,
                                    limit_per_frame=3) == [[]] * 5  # fmt: skip
    with pytest.raises(ValueError, match="twice"):
        catalog.upsert_videos([mk.video("v4"), mk.video("v4")])
    assert catalog.get_video("v4") is None
    catalog.upsert_videos([])


def test_partial_write_is_invisible(backend, mk) -> None:
    catalog = backend.open()
    committed = mk.video("v1", frames=2)
    catalog.upsert_video(committed)
    ghost = mk.video("ghost", frames=3)  # never committed: no video point
    backend.write_frames_only(catalog, ghost, generation=1)
    # A re-index of v1 that died before its commit: frames with an unknown generation.
    backend.write_frames_only(catalog, mk.video("v1", frames=3), generation=2)

    assert catalog.get_video("ghost") is None
    codes = np.stack([f.hash_bits for f in ghost.keyframes])
    texs = np.stack([f.texture for f in ghost.keyframes])
    assert catalog.search_keyframes(codes, texs, max_hamming=0, limit_per_frame=4) == [[]] * 3
    everything = catalog.search_keyframes(
        codes[:1], texs[:1], max_hamming=None, limit_per_frame=100
    )
    assert sorted((h.video_id, h.time_s) for h in everything[0]) == [("v1", 0.0), ("v1", 1.0)]


def test_stale_frames_filling_a_row_do_not_hide_visible_ones(backend, mk) -> None:
    catalog = backend.open()
    query = mk.code()
    visible = KeyFrame(7.0, mk.flip(query, 3), mk.texture())
    catalog.upsert_video(mk.video("v1", frames=[visible]))
    # Uncommitted frames nearer to the query than the committed one, in 3 generations.
    for generation in (11, 12, 13):
        stale = [KeyFrame(float(i), mk.flip(query, 1, start=i), mk.texture()) for i in range(2)]
        backend.write_frames_only(catalog, mk.video("v1", frames=stale), generation)
    rows = catalog.search_keyframes(
        query[None], mk.texture()[None], max_hamming=5, limit_per_frame=2
    )
    assert [(h.video_id, h.time_s, h.hamming) for h in rows[0]] == [("v1", 7.0, 3)]


def test_iter_videos_lists_every_video_across_batches(catalog: Catalog, mk) -> None:
    assert list(catalog.iter_videos()) == []
    for i in range(7):
        catalog.upsert_video(mk.video(f"v{i}", frames=1, model_version=1 + i % 2))
    catalog.delete_video("v3")
    listed = list(catalog.iter_videos(batch=2))  # several pages
    assert sorted(v.video_id for v in listed) == ["v0", "v1", "v2", "v4", "v5", "v6"]
    assert {v.model_version for v in listed} == {1, 2}


def test_find_by_content_returns_every_id_of_the_same_file(catalog: Catalog, mk) -> None:
    assert catalog.find_by_content("ab" * 32) == []
    for video_id in ("a", "b"):
        catalog.upsert_video(mk.video(video_id, frames=1))  # mk gives every video "ab" * 32
    assert catalog.find_by_content("ab" * 32) == ["a", "b"]
    assert catalog.find_by_content("cd" * 32) == []


def test_text_search_finds_nearest_with_their_stage2_features(catalog: Catalog, mk) -> None:
    assert catalog.has_text_vectors() is True
    texts = {f"t{i}": mk.text(frames=2 + i) for i in range(4)}
    for vid, text in texts.items():
        catalog.upsert_video(mk.video(vid, frames=1, text=text))
    catalog.upsert_video(mk.video("no_text", frames=1))
    catalog.upsert_video(mk.video("v2", frames=1, text=mk.text(model_version=2)))

    query = texts["t2"].embedding + 0.05 * mk.rng.normal(size=texts["t2"].embedding.shape)
    found = catalog.search_text(query, limit=10, model_version=1)
    assert [c.info.video_id for c in found][:1] == ["t2"]
    assert {c.info.video_id for c in found} == set(texts)  # not other versions, not text-less
    sims = [c.similarity for c in found]
    assert sims == sorted(sims, reverse=True)
    want = {vid: float(query @ t.embedding / np.linalg.norm(query)) for vid, t in texts.items()}
    for cand in found:
        assert cand.similarity == pytest.approx(want[cand.info.video_id], abs=1e-4)
        stored, sent = cand.features, texts[cand.info.video_id]
        assert stored.local.shape == sent.local.shape and stored.model_version == 1
        np.testing.assert_allclose(stored.local, sent.local, rtol=1e-3, atol=1e-3)  # float16
        np.testing.assert_allclose(stored.frames, sent.frames, rtol=1e-3, atol=1e-3)
    assert len(catalog.search_text(query, limit=2, model_version=1)) == 2
    assert [c.info.video_id for c in catalog.search_text(query, limit=5, model_version=2)] == [
        "v2"
    ]
    info = catalog.get_video("t2")
    assert info is not None and info.keyframe_count == 1  # the big payload stays out of reads

    catalog.upsert_video(mk.video("t2", frames=1))  # re-indexed without text: drops out
    after = catalog.search_text(query, limit=10, model_version=1)
    assert "t2" not in {c.info.video_id for c in after}
    with pytest.raises(ValueError, match="text embedding"):
        catalog.search_text(np.ones(3, np.float32), limit=1, model_version=1)


def test_catalog_without_text_vectors_refuses_text_and_finds_nothing(backend, mk) -> None:
    catalog = backend.open(text_dim=None)
    assert catalog.has_text_vectors() is False
    catalog.upsert_video(mk.video("v", frames=1))
    with pytest.raises(ValueError, match="without text"):
        catalog.upsert_video(mk.video("w", frames=1, text=mk.text()))
    assert catalog.search_text(mk.text().embedding, limit=3, model_version=1) == []
    catalog.close()
    reopened = backend.open(text_dim=6)  # stays text-less: a store cannot gain a vector
    assert reopened.has_text_vectors() is False
    assert reopened.search_text(mk.text().embedding, limit=3, model_version=1) == []


def test_is_ready_until_closed(backend, mk) -> None:
    catalog = backend.open()
    assert catalog.is_ready() is True
    catalog.upsert_video(mk.video("v1", frames=1))
    assert catalog.is_ready() is True
    catalog.close()
    assert catalog.is_ready() is False


def test_searches_honour_the_request_budget(catalog: Catalog, mk) -> None:
    """A late or cancelled request does not start its catalog queries; a live budget
    (deadline left) changes nothing about the answer."""
    video = mk.video("v1", frames=2)
    catalog.upsert_video(video)
    codes = np.stack([f.hash_bits for f in video.keyframes])
    texs = np.stack([f.texture for f in video.keyframes])
    live = RequestBudget(30.0)
    assert [c.info.video_id for c in search(catalog, video.hash_bits, video.texture, budget=live)]
    rows = catalog.search_keyframes(codes, texs, max_hamming=0, limit_per_frame=3, budget=live)
    assert [row[0].video_id for row in rows] == ["v1", "v1"]

    expired = RequestBudget(0.0)
    with pytest.raises(DeadlineExceededError, match="video search"):
        search(catalog, video.hash_bits, video.texture, budget=expired)
    with pytest.raises(DeadlineExceededError, match="key-frame search"):
        catalog.search_keyframes(codes, texs, max_hamming=0, limit_per_frame=3, budget=expired)
    cancelled = RequestBudget(30.0)
    cancelled.cancel()
    with pytest.raises(RequestCancelledError):
        search(catalog, video.hash_bits, video.texture, budget=cancelled)
    with pytest.raises(RequestCancelledError):
        catalog.search_keyframes(codes, texs, max_hamming=0, limit_per_frame=3, budget=cancelled)
    assert catalog.get_video("v1") is not None  # the catalog itself is unharmed


def _unit(*components: float) -> np.ndarray:
    vec = np.zeros(8, np.float32)  # conftest TEXTURE_DIM
    vec[: len(components)] = components
    return vec / np.linalg.norm(vec)


def test_keyframe_vectors_returns_committed_frames_in_time_order(backend, mk) -> None:
    catalog = backend.open()
    frames = [KeyFrame(t, mk.code(), mk.texture()) for t in (3.0, 1.0, 2.0, 0.0)]
    catalog.upsert_video(mk.video("a", frames=frames))
    catalog.upsert_video(mk.video("b", frames=2))
    old = mk.video("c", frames=5)
    catalog.upsert_video(old)
    new = mk.video("c", frames=2)  # re-indexed: only the new version's frames
    catalog.upsert_video(new)
    backend.write_frames_only(catalog, mk.video("ghost", frames=3), generation=1)
    backend.write_frames_only(catalog, mk.video("a", frames=6), generation=2)  # died mid-write

    got = catalog.keyframe_vectors(["a", "c", "ghost", "missing"])
    assert set(got) == {"a", "c"}
    times, textures = got["a"]
    np.testing.assert_array_equal(times, [0.0, 1.0, 2.0, 3.0])
    by_time = sorted(frames, key=lambda f: f.time_s)
    np.testing.assert_allclose(textures, np.stack([f.texture for f in by_time]), rtol=1e-6)
    assert textures.dtype == np.float32 and textures.shape == (4, 8)
    times_c, textures_c = got["c"]
    np.testing.assert_array_equal(times_c, [0.0, 1.0])
    np.testing.assert_allclose(textures_c, np.stack([f.texture for f in new.keyframes]), 1e-6)
    assert catalog.keyframe_vectors([]) == {}
    assert catalog.keyframe_vectors(["missing"]) == {}


def test_kth_neighbour_similarity_is_the_kth_best_dot(backend, mk) -> None:
    catalog = backend.open(texture_dim=None, embedding_dim=None)  # empty: nothing known
    query = np.stack([_unit(1.0), _unit(0.0, 1.0)])
    assert np.isnan(catalog.kth_neighbour_similarity(query, 1)).all()
    stored = [_unit(1.0), _unit(1.0, 1.0), _unit(0.0, 1.0), _unit(-1.0)]
    frames = [KeyFrame(float(i), mk.code(), t) for i, t in enumerate(stored)]
    catalog.upsert_video(mk.video("bg1", frames=frames[:2], texture=_unit(1.0)))
    catalog.upsert_video(mk.video("bg2", frames=frames[2:], texture=_unit(1.0)))
    # Uncommitted frames identical to the query must not count as neighbours.
    ghost = [KeyFrame(0.0, mk.code(), _unit(1.0)), KeyFrame(1.0, mk.code(), _unit(0.0, 1.0))]
    backend.write_frames_only(catalog, mk.video("ghost", frames=ghost), generation=1)
    r = 1 / np.sqrt(2)
    # Row 0 (e0): 1, 0.707, 0, -1; row 1 (e1): 1, 0.707, 0, 0 (e1 . -e0 = 0).
    for k, want in ((1, [1.0, 1.0]), (2, [r, r]), (3, [0.0, 0.0]), (4, [-1.0, 0.0])):
        got = catalog.kth_neighbour_similarity(query, k)
        assert got.shape == (2,) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.isnan(catalog.kth_neighbour_similarity(query, 5)).all()  # only 4 frames
    with pytest.raises(ValueError):
        catalog.kth_neighbour_similarity(query[:, :3], 1)
    with pytest.raises(ValueError):
        catalog.kth_neighbour_similarity(query, 0)
    expired = RequestBudget(0.0)
    with pytest.raises(DeadlineExceededError):
        catalog.kth_neighbour_similarity(query, 1, budget=expired)
    with pytest.raises(DeadlineExceededError):
        catalog.keyframe_vectors(["bg1"], budget=expired)


def test_model_versions_are_cached_until_a_write(catalog, mk, monkeypatch) -> None:
    """Every search asks for the model versions: they are computed (a facet over every
    video) again only after a write of this catalog, and asking counts no points."""
    catalog.upsert_video(mk.video("v1", frames=1, model_version=1))
    assert catalog.model_versions() == (1,)
    calls: list[str] = []
    for name in ("facet", "count"):
        real = getattr(catalog.store, name)

        def counted(*args: object, _name: str = name, _real=real) -> object:
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(catalog.store, name, counted)
    assert [catalog.model_versions() for _ in range(3)] == [(1,)] * 3
    assert calls == []
    catalog.upsert_video(mk.video("v2", frames=1, model_version=2))
    assert catalog.model_versions() == (1, 2) and calls == ["facet"]
    assert catalog.delete_video("v2")
    assert catalog.stats().model_versions == (1,)
    assert calls == ["facet", "count", "count", "facet"]  # stats counts; versions once


def test_a_reader_sees_the_version_of_a_video_a_write_has_just_made_visible(
    catalog, mk, monkeypatch
) -> None:
    """Readers never wait for writers: between the video point's flush and the end of the
    write, a reader that finds the video at version 2 must not be told by a cached answer
    that the catalog holds only version 1 (a reindex's searches were refused this way)."""
    catalog.upsert_video(mk.video("v1", frames=1, model_version=1))
    assert catalog.model_versions() == (1,)  # cached
    visible, finish = threading.Event(), threading.Event()
    real = catalog.store.flush

    def pausing(store: str) -> None:
        real(store)
        if store == sc.VIDEOS:  # the new video point is visible; stale frames not yet gone
            visible.set()
            assert finish.wait(30)

    monkeypatch.setattr(catalog.store, "flush", pausing)
    writer = threading.Thread(
        target=catalog.upsert_video, args=(mk.video("v1", frames=1, model_version=2),))
    writer.start()
    try:
        assert visible.wait(30)
        info = catalog.get_video("v1")
        assert info is not None and info.model_version == 2
        assert catalog.model_versions() == (2,)
    finally:
        finish.set()
        writer.join(30)
    assert catalog.model_versions() == (2,)


def test_get_videos_reads_many_in_one_call(catalog, mk, monkeypatch) -> None:
    for video_id in ("a", "b", "c"):
        catalog.upsert_video(mk.video(video_id, frames=1))
    retrieves: list[object] = []
    real = catalog.store.retrieve

    def counted(*args: object, **kw: object) -> object:
        retrieves.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(catalog.store, "retrieve", counted)
    found = catalog.get_videos(["c", "ghost", "a", "a"])
    assert sorted(found) == ["a", "c"] and found["c"] == catalog.get_video("c")
    assert len(retrieves) == 2  # get_videos once, get_video once
    assert catalog.get_videos([]) == {}
    with pytest.raises(DeadlineExceededError):
        catalog.get_videos(["a"], budget=RequestBudget(-1.0))
