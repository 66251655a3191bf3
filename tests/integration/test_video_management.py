"""ListVideos, UpdateVideo and filtered searches end to end, the way a user runs them: the
real server on loopback (ONNX Runtime with the text models, Qdrant Edge), driven
through the SDK with generated H.264 files, bulk-indexed with ``index_many``.

Tests in this module run in order on one server: index, list, filter, update.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import vidsearch_client as vc
from vidsearch_client import IndexItem, VideoFilter, VideoSearchClient

import vidsearch
from vidsearch.media.corpus import BenchmarkManifest

N = 8


@pytest.fixture(scope="module")
def client(text_server: Any) -> VideoSearchClient:
    return VideoSearchClient(text_server.target, timeout=120)


@pytest.fixture(scope="module")
def indexed(client: VideoSearchClient, corpus: BenchmarkManifest) -> list[IndexItem]:
    """Eight references: "Ocean i" titles and tag "blue" for the even ones, "Forest i"
    and "green" for the odd ones, "sample" on all."""
    items = [
        IndexItem(Path(ref.path), ref.video_id,
                  title=("Ocean " if i % 2 == 0 else "Forest ") + str(i),
                  tags=("sample", "blue" if i % 2 == 0 else "green"))
        for i, ref in enumerate(corpus.references[:N])
    ]
    progress: list[int] = []
    outcomes = client.index_many(items, concurrency=3, request_id="bulk",
                                 progress=lambda done, total, outcome: progress.append(done))
    assert [o.error for o in outcomes] == [None] * N and progress == list(range(1, N + 1))
    return items


def _ids(items: list[IndexItem], parity: int | None = None) -> set[str]:
    return {it.video_id for i, it in enumerate(items) if parity is None or i % 2 == parity}


def test_list_videos_pages_through_every_video(
    client: VideoSearchClient, indexed: list[IndexItem]
) -> None:
    pages = list(client.list_video_pages(page_size=3))
    assert [len(p.videos) for p in pages] == [3, 3, 2] and pages[-1].next_page_token == ""
    listed = [v for p in pages for v in p.videos]
    assert {v.video_id for v in listed} == _ids(indexed) and len(listed) == N
    assert [v.video_id for v in client.list_videos()] == [v.video_id for v in listed]
    for video in listed:
        created = datetime.fromisoformat(video.created_at)
        assert created.tzinfo is not None and video.updated_at == video.created_at
    assert client.stats().server_version == vidsearch.__version__


def test_list_videos_filters_in_the_catalog(
    client: VideoSearchClient, indexed: list[IndexItem]
) -> None:
    assert {v.video_id for v in client.list_videos(tags=["blue"])} == _ids(indexed, 0)
    assert {v.video_id for v in client.list_videos(tags=["green", "sample"])} == _ids(indexed, 1)
    assert {v.video_id for v in client.list_videos(title_prefix="Forest")} == _ids(indexed, 1)
    assert [v.video_id for v in client.list_videos(title_prefix="Ocean 2")] == [
        indexed[2].video_id]
    version = client.get(indexed[0].video_id).model_version
    assert {v.video_id for v in client.list_videos(model_version=version)} == _ids(indexed)
    assert list(client.list_videos(model_version=version + 1)) == []


def test_page_tokens_are_checked(client: VideoSearchClient, indexed: list[IndexItem]) -> None:
    first = next(iter(client.list_video_pages(page_size=2, tags=["blue"])))
    with pytest.raises(vc.InvalidArgument, match="another filter") as caught:
        next(iter(client.list_video_pages(page_size=2, page_token=first.next_page_token)))
    assert [v.field for v in caught.value.field_violations] == ["page_token"]
    with pytest.raises(vc.InvalidArgument, match="not one this server handed out"):
        next(iter(client.list_video_pages(page_token="garbage!")))
    with pytest.raises(vc.InvalidArgument) as caught:
        next(iter(client.list_video_pages(page_size=0)))
    assert [v.field for v in caught.value.field_violations] == ["page_size"]


def test_search_by_video_finds_only_videos_passing_the_filter(
    client: VideoSearchClient, indexed: list[IndexItem]
) -> None:
    query = indexed[0]  # finds itself first without a filter
    for mode in ("texture", "duration"):
        unfiltered = client.search_video(query.path, mode=mode, top_k=3)  # type: ignore[arg-type]
        assert unfiltered.hits[0].video.video_id == query.video_id
        found = client.search_video(query.path, mode=mode, top_k=N,  # type: ignore[arg-type]
                                    filter=VideoFilter(tags=("green",)))
        assert {h.video.video_id for h in found.hits} <= _ids(indexed, 1), mode
        only_self = client.search_video(query.path, mode=mode,  # type: ignore[arg-type]
                                        filter=VideoFilter(video_ids=(query.video_id,)))
        assert [h.video.video_id for h in only_self.hits] == [query.video_id], mode


def test_search_by_text_finds_only_videos_passing_the_filter(
    client: VideoSearchClient, indexed: list[IndexItem]
) -> None:
    result = client.search_text("a shape moves", top_k=N,
                                filter=VideoFilter(title_prefix="Ocean"))
    assert result.hits and {h.video.video_id for h in result.hits} == _ids(indexed, 0)
    none = client.search_text("a shape moves", filter=VideoFilter(tags=("nobody",)))
    assert none.hits == ()


def test_update_video_changes_title_and_tags_only(
    client: VideoSearchClient, indexed: list[IndexItem]
) -> None:
    target = indexed[1].video_id
    before = client.get(target)
    after = client.update_video(target, title="Ocean renamed", request_id="upd-1")
    assert (after.title, after.tags) == ("Ocean renamed", before.tags)
    assert after.created_at == before.created_at and after.updated_at > before.updated_at
    assert (after.keyframe_count, after.content_sha256) == (
        before.keyframe_count, before.content_sha256)  # not re-indexed
    assert client.get(target) == after
    assert target in {v.video_id for v in client.list_videos(title_prefix="Ocean r")}
    retagged = client.update_video(target, tags=["blue"])
    assert retagged.tags == ("blue",) and retagged.title == "Ocean renamed"
    assert target in {v.video_id for v in client.list_videos(tags=["blue"])}
    with pytest.raises(vc.NotFound) as caught:
        client.update_video("no-such-video", title="x")
    assert caught.value.reason == "VIDEO_NOT_FOUND"
