"""The live tag library on both point stores (Edge, qdrant-client local mode): writes seen
by the next read, pagination, exact nearest tags, stale versions, durability on reopen,
and the tag fields stored with videos."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vidsearch.catalog import QdrantCatalog, VideoNotFoundError
from vidsearch.catalog.base import TagFeature
from vidsearch.catalog.tags import PageTokenError, TagLibrary, TagVector

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # local mode: "no effect" notes

DIM = 6


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def library(catalog: Any) -> TagLibrary:
    assert isinstance(catalog, QdrantCatalog)
    return catalog.tag_library(DIM)


def test_a_tag_is_found_by_the_next_query_and_never_after_deletion(catalog: Any) -> None:
    rng = np.random.default_rng(0)
    tags = library(catalog)
    vectors = {f"tag {i}": unit(rng) for i in range(20)}
    assert tags.upsert([TagVector(t, v, 1, "test") for t, v in vectors.items()]) == [True] * 20
    query = vectors["tag 3"] + 0.01 * unit(rng)
    hits = tags.nearest(query, limit=3, model_version=1)
    assert hits[0].tag.text == "tag 3" and hits[0].distance < 0.01
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    # Brute force agrees on the order (the query is exact).
    sims = {t: float(v @ query / np.linalg.norm(query)) for t, v in vectors.items()}
    assert [h.tag.text for h in hits] == sorted(sims, key=lambda t: -sims[t])[:3]
    assert tags.delete(["tag 3", "never added"]) == [True, False]
    assert "tag 3" not in [h.tag.text for h in tags.nearest(query, limit=20, model_version=1)]
    new = unit(rng)
    assert tags.upsert([TagVector("hot topic", new, 1)]) == [True]
    assert tags.nearest(new, limit=1, model_version=1)[0].tag.text == "hot topic"


@pytest.mark.parametrize("limit", [1, 5, 40])
def test_scene_aware_nearest_is_the_brute_force_ranking(catalog: Any, limit: int) -> None:
    """Video + best scene: the library's answer is the exact ranking of every tag, also
    when the first lists are too short to prove it (300 tags, lists of 64 first)."""
    from vidsearch.contract.tag_scoring import scene_aware_similarity

    rng = np.random.default_rng(limit)
    tags = library(catalog)
    vectors = np.stack([unit(rng) for _ in range(300)])
    tags.upsert([TagVector(f"t{i}", v, 1) for i, v in enumerate(vectors)])
    tags.upsert([TagVector("other space", vectors[0], 2)])
    for trial in range(5):
        video, scenes = unit(rng), np.stack([unit(rng) for _ in range(4)])
        sim = scene_aware_similarity(vectors @ video, scenes @ vectors.T, 2.0)
        expected = [f"t{i}" for i in np.argsort(-sim, kind="stable")[:limit]]
        hits = tags.nearest(video, limit=limit, model_version=1, scenes=scenes, scene_weight=2.0)
        assert [h.tag.text for h in hits] == expected, trial
        assert np.allclose([h.distance for h in hits], 1 - np.sort(sim)[::-1][:limit], atol=1e-5)
        # weight 0 is the video alone; max_distance bounds the combined distance
        alone = tags.nearest(video, limit=limit, model_version=1, scenes=scenes)
        assert [h.tag.text for h in alone] == [
            f"t{i}" for i in np.argsort(-(vectors @ video), kind="stable")[:limit]]
        best, second = np.sort(sim)[::-1][:2]
        cut = float(1 - (best + second) / 2)  # between the first and the second
        within = tags.nearest(video, limit=limit, model_version=1, scenes=scenes,
                              scene_weight=2.0, max_distance=cut)
        assert [h.tag.text for h in within] == expected[:1]
    with pytest.raises(ValueError, match="scene tag features"):
        tags.nearest(unit(rng), limit=3, model_version=1, scenes=np.zeros((2, DIM)),
                     scene_weight=1.0)


def test_max_distance_and_versions_bound_the_answer(catalog: Any) -> None:
    rng = np.random.default_rng(1)
    tags = library(catalog)
    near = unit(rng)
    tags.upsert([TagVector("near", near, 1), TagVector("far", -near, 1),
                 TagVector("other space", near, 2)])
    within = tags.nearest(near, limit=10, model_version=1, max_distance=0.5)
    assert [h.tag.text for h in within] == ["near"]
    assert [h.tag.text for h in tags.nearest(near, limit=10, model_version=2)] == ["other space"]
    assert sorted(t.text for batch in tags.stale(2, batch=1) for t in batch) == ["far", "near"]


def test_replacing_a_tag_keeps_when_it_was_created(catalog: Any) -> None:
    rng = np.random.default_rng(2)
    tags = library(catalog)
    tags.upsert([TagVector("red ring", unit(rng), 1, "api")])
    first = tags.get(["red ring"])["red ring"]
    assert tags.upsert([TagVector("red ring", unit(rng), 2)]) == [False]
    again = tags.get(["red ring"])["red ring"]
    assert (again.created_at, again.source, again.model_version) == (first.created_at, "api", 2)


def test_pages_list_every_tag_once(catalog: Any) -> None:
    rng = np.random.default_rng(3)
    tags = library(catalog)
    names = {f"t{i:02d}" for i in range(23)}
    tags.upsert([TagVector(t, unit(rng), 1) for t in names])
    seen: list[str] = []
    token, pages = "", 0
    while True:
        page, token = tags.page(10, token)
        seen += [t.text for t in page]
        pages += 1
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(names) and tags.count() == 23
    with pytest.raises(PageTokenError, match="next_page_token"):
        tags.page(10, "not-a-token")


def test_acknowledged_tags_survive_reopening(backend: Any) -> None:
    rng = np.random.default_rng(4)
    catalog = backend.open()
    vector = unit(rng)
    library(catalog).upsert([TagVector("kept", vector, 1)])
    catalog.close()
    reopened = library(backend.open())
    assert reopened.nearest(vector, limit=1, model_version=1)[0].tag.text == "kept"


def test_videos_carry_their_tag_feature_and_tags(catalog: Any, mk: Any) -> None:
    scenes = np.arange(1, 3 * DIM + 1, dtype=np.float32).reshape(3, DIM) / 8
    feature = TagFeature(np.arange(1, DIM + 1, dtype=np.float32), 3, scenes)
    video = mk.video("v", frames=2)
    catalog.upsert_video(type(video)(**{**video.__dict__, "tag_feature": feature}))
    catalog.upsert_video(mk.video("plain"))
    stored = catalog.tag_feature("v")
    assert stored.model_version == 3 and stored.vector.tolist() == feature.vector.tolist()
    assert stored.scenes is not None and stored.scenes.tolist() == scenes.tolist()  # f16-exact
    bad = TagFeature(feature.vector, 3, np.zeros((2, DIM), np.float32))
    with pytest.raises(ValueError, match="scene tag features"):
        catalog.upsert_video(type(video)(**{**video.__dict__, "tag_feature": bad}))
    assert catalog.tag_feature("plain") is None
    with pytest.raises(VideoNotFoundError):
        catalog.tag_feature("missing")
    catalog.set_video_tags("v", ["red ring", "fast"])
    assert catalog.get_video("v").tags == ("red ring", "fast")
    assert catalog.get_video("v").keyframe_count == 2  # the rest of the point unchanged
    assert [v.video_id for v in catalog.videos_with_tag("red ring", 10)] == ["v"]
    assert [v.video_id for v in catalog.videos_with_tag("a", 10)] == ["plain"]
    with pytest.raises(VideoNotFoundError):
        catalog.set_video_tags("missing", ["x"])
