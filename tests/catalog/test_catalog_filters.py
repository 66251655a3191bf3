"""Listing, updating and filtering videos, on every catalog backend (Qdrant Edge and
qdrant-client local mode): filters run inside the store, so a limit of 1 still finds
the nearest video that passes, not nothing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vidsearch.catalog import Catalog, VideoNotFoundError
from vidsearch.catalog.base import VideoFilter
from vidsearch.catalog.schema import MAX_TITLE_PREFIX

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # local mode: "no effect" notes


def _fill(catalog: Catalog, mk, n: int = 7) -> list:
    videos = []
    for i in range(n):
        video = dataclasses.replace(
            mk.video(f"v{i}", frames=2, model_version=1 + i % 2, text=mk.text()),
            title=("Cats " if i % 3 == 0 else "Dogs ") + str(i),
            tags=("even",) if i % 2 == 0 else ("odd", "prime") if i in (3, 5) else ("odd",),
        )
        catalog.upsert_video(video)
        videos.append(video)
    return videos


def _all_pages(catalog: Catalog, only: VideoFilter | None, page_size: int) -> list[list[str]]:
    pages, offset = [], None
    while True:
        infos, offset = catalog.list_videos(only, page_size=page_size, offset=offset)
        pages.append([i.video_id for i in infos])
        if offset is None:
            return pages


def test_list_videos_pages_through_every_video_once(catalog: Catalog, mk) -> None:
    _fill(catalog, mk)
    pages = _all_pages(catalog, None, page_size=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(v for p in pages for v in p) == [f"v{i}" for i in range(7)]
    assert _all_pages(catalog, None, page_size=7) == [pages[0] + pages[1] + pages[2]]  # stable


FILTER_CASES = [
    (VideoFilter(tags=("odd",)), {"v1", "v3", "v5"}),
    (VideoFilter(tags=("odd", "prime")), {"v3", "v5"}),  # every tag must be carried
    (VideoFilter(title_prefix="Cats"), {"v0", "v3", "v6"}),
    (VideoFilter(title_prefix="Cats 3"), {"v3"}),
    (VideoFilter(title_prefix="cats"), set()),  # case-sensitive
    (VideoFilter(model_version=2), {"v1", "v3", "v5"}),
    (VideoFilter(video_ids=("v2", "v4", "nope")), {"v2", "v4"}),
    (VideoFilter(tags=("even",), title_prefix="Dogs"), {"v2", "v4"}),
    (VideoFilter(), {f"v{i}" for i in range(7)}),
]


def test_list_videos_filters(catalog: Catalog, mk) -> None:
    _fill(catalog, mk)  # once: Edge flushes each write, so filling is the slow part
    for only, expected in FILTER_CASES:
        found = {v for p in _all_pages(catalog, only, page_size=2) for v in p}
        assert found == expected, only


def test_update_video_changes_title_and_tags_and_times(catalog: Catalog, mk) -> None:
    _fill(catalog, mk, 2)
    before = catalog.get_video("v1")
    assert before is not None and before.created_at == before.updated_at != ""
    after = catalog.update_video("v1", title="Cats and more")
    assert (after.title, after.tags) == ("Cats and more", ("odd",))
    assert after.created_at == before.created_at and after.updated_at > before.updated_at
    assert catalog.get_video("v1") == after
    found, _ = catalog.list_videos(VideoFilter(title_prefix="Cats a"), page_size=10)
    assert [i.video_id for i in found] == ["v1"]
    assert catalog.list_videos(VideoFilter(title_prefix="Dogs 1"), page_size=10)[0] == []
    tagged = catalog.update_video("v1", tags=["new"])
    assert (tagged.title, tagged.tags) == ("Cats and more", ("new",))
    with pytest.raises(VideoNotFoundError):
        catalog.update_video("missing", title="x")


def test_reindexing_an_id_keeps_its_creation_time(catalog: Catalog, mk) -> None:
    catalog.upsert_video(mk.video("v"))
    first = catalog.get_video("v")
    catalog.upsert_video(mk.video("v", model_version=3))
    again = catalog.get_video("v")
    assert first is not None and again is not None and again.model_version == 3
    assert again.created_at == first.created_at and again.updated_at > first.updated_at


def test_long_titles_match_prefixes_up_to_the_limit(catalog: Catalog, mk) -> None:
    title = "x" * (MAX_TITLE_PREFIX + 20)
    catalog.upsert_video(dataclasses.replace(mk.video("long"), title=title))
    found, _ = catalog.list_videos(VideoFilter(title_prefix=title[:MAX_TITLE_PREFIX]),
                                   page_size=5)
    assert [i.video_id for i in found] == ["long"]
    with pytest.raises(ValueError, match="title_prefix"):
        catalog.list_videos(VideoFilter(title_prefix=title), page_size=5)


def test_video_search_filter_runs_in_the_store(catalog: Catalog, mk) -> None:
    videos = _fill(catalog, mk)
    query = videos[0]  # nearest to itself, but it carries "even"
    only = VideoFilter(tags=("odd",))
    found = catalog.search_videos(query.hash_bits, query.texture, max_hamming=None,
                                  coarse_limit=1, limit=1, only=only)
    assert len(found) == 1 and "odd" in found[0].info.tags
    every = catalog.search_videos(query.hash_bits, query.texture, max_hamming=None,
                                  coarse_limit=100, limit=100, only=only)
    assert {c.info.video_id for c in every} == {"v1", "v3", "v5"}


def test_keyframe_search_filter_runs_in_the_store(catalog: Catalog, mk) -> None:
    videos = _fill(catalog, mk)
    frame = videos[0].keyframes[0]
    rows = catalog.search_keyframes(frame.hash_bits[None], frame.texture[None],
                                    max_hamming=None, limit_per_frame=1)
    assert [h.video_id for h in rows[0]] == ["v0"]
    for only, allowed in ((VideoFilter(title_prefix="Dogs"), {"v1", "v2", "v4", "v5"}),
                          (VideoFilter(video_ids=("v5", "v6")), {"v5", "v6"})):
        rows = catalog.search_keyframes(frame.hash_bits[None], frame.texture[None],
                                        max_hamming=None, limit_per_frame=1, only=only)
        assert len(rows[0]) == 1 and rows[0][0].video_id in allowed
    none = catalog.search_keyframes(frame.hash_bits[None], frame.texture[None],
                                    max_hamming=None, limit_per_frame=3,
                                    only=VideoFilter(tags=("nobody",)))
    assert none == [[]]


def test_text_search_filter_runs_in_the_store(catalog: Catalog, mk) -> None:
    videos = _fill(catalog, mk)
    query = np.asarray(videos[2].text.embedding)  # v2 is nearest; it is not in the filter
    found = catalog.search_text(query, limit=1, model_version=1,
                                only=VideoFilter(video_ids=("v4", "v6")))
    assert len(found) == 1 and found[0].info.video_id in {"v4", "v6"}
    assert catalog.search_text(query, limit=1, model_version=1)[0].info.video_id == "v2"
