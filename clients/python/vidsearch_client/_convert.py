"""Protobuf ⇄ SDK dataclass conversion, shared by the sync and async clients."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from vidsearch_client.types import (
    IndexResult,
    MatchedSegment,
    Neighbour,
    SearchHit,
    SearchMode,
    SearchOptions,
    SearchResult,
    SentenceMatch,
    SentenceSearchOptions,
    Stats,
    SuggestedTag,
    Tag,
    TaggedVideos,
    TagPage,
    TagSuggestions,
    TextMatch,
    TextSearchOptions,
    VideoFilter,
    VideoInfo,
    VideoPage,
)
from vidsearch_client.v1 import vidsearch_pb2 as pb

MODE_TO_PROTO: dict[SearchMode, int] = {
    "texture": pb.SEARCH_MODE_TEXTURE,
    "duration": pb.SEARCH_MODE_DURATION,
    "keyframe": pb.SEARCH_MODE_KEYFRAME,
}
MODE_FROM_PROTO: dict[int, SearchMode] = {value: key for key, value in MODE_TO_PROTO.items()}


def video_info(msg: pb.VideoInfo) -> VideoInfo:
    return VideoInfo(
        video_id=msg.video_id,
        duration_s=msg.duration_s,
        model_version=msg.model_version,
        keyframe_count=msg.keyframe_count,
        title=msg.title,
        tags=tuple(msg.tags),
        source=msg.source,
        content_sha256=msg.content_sha256,
        created_at=_iso(msg, "create_time"),
        updated_at=_iso(msg, "update_time"),
        caption=msg.caption,
        caption_model_version=msg.caption_model_version,
    )


def _iso(msg: pb.VideoInfo, name: str) -> str:
    if not msg.HasField(name):
        return ""
    return str(getattr(msg, name).ToDatetime(tzinfo=UTC).isoformat())


def video_filter(only: VideoFilter | None) -> pb.VideoFilter:
    msg = pb.VideoFilter()
    if only is not None:
        msg.tags.extend(only.tags)
        msg.video_ids.extend(only.video_ids)
        msg.title_prefix = only.title_prefix
        if only.model_version is not None:
            msg.model_version = int(only.model_version)
    return msg


def video_page(msg: pb.ListVideosResponse) -> VideoPage:
    return VideoPage(tuple(video_info(v) for v in msg.videos), msg.next_page_token)


def index_result(msg: pb.IndexVideoResponse) -> IndexResult:
    return IndexResult(
        video=video_info(msg.video), replaced=msg.replaced, duplicate_of=tuple(msg.duplicate_of)
    )


def search_options(options: SearchOptions | None) -> pb.SearchOptions:
    """Only the fields the caller set are sent, so the server applies its defaults."""
    msg = pb.SearchOptions()
    if options is None:
        return msg
    if options.mode is not None:
        msg.mode = MODE_TO_PROTO[options.mode]  # type: ignore[assignment]
    for name in ("top_k", "max_hamming", "coarse_limit", "model_version"):
        value = getattr(options, name)
        if value is not None:
            setattr(msg, name, int(value))
    for name in ("max_texture_distance", "min_repetition"):
        value = getattr(options, name)
        if value is not None:
            setattr(msg, name, float(value))
    if options.filter is not None:
        msg.filter.CopyFrom(video_filter(options.filter))
    return msg


def text_search_request(text: str, options: TextSearchOptions | None) -> pb.SearchByTextRequest:
    """Only the fields the caller set are sent, so the server applies its defaults."""
    request = pb.SearchByTextRequest(text=text)
    if options is not None:
        for name in ("top_k", "candidates", "model_version"):
            value = getattr(options, name)
            if value is not None:
                setattr(request.options, name, int(value))
        if options.rerank is not None:
            request.options.rerank = bool(options.rerank)
        if options.keyword_enhancement is not None:
            request.options.keyword_enhancement = bool(options.keyword_enhancement)
        if options.filter is not None:
            request.options.filter.CopyFrom(video_filter(options.filter))
    return request


def _text_match(hit: pb.SearchHit) -> TextMatch | None:
    if not hit.HasField("text"):
        return None
    t = hit.text
    return TextMatch(t.embedding_similarity, t.rescored, t.score, t.fine, t.coarse)


def sentence_options(options: SentenceSearchOptions | None) -> pb.SentenceSearchOptions:
    """Only the fields the caller set are sent, so the server applies its defaults."""
    msg = pb.SentenceSearchOptions()
    if options is not None:
        for name in ("top_k", "candidates"):
            value = getattr(options, name)
            if value is not None:
                setattr(msg, name, int(value))
        if options.filter is not None:
            msg.filter.CopyFrom(video_filter(options.filter))
    return msg


def _sentence_match(hit: pb.SearchHit) -> SentenceMatch | None:
    if not hit.HasField("sentence"):
        return None
    s = hit.sentence
    return SentenceMatch(s.similarity, s.vector_rank, s.keyword_rank, tuple(s.matched_words))


def search_result(msg: pb.SearchResponse) -> SearchResult:
    hits = tuple(
        SearchHit(
            video=video_info(hit.video),
            score=hit.score,
            hamming=hit.hamming,
            texture_distance=hit.texture_distance,
            repetition=hit.repetition,
            segments=tuple(
                MatchedSegment(
                    query_start_s=seg.query_start_s,
                    query_end_s=seg.query_end_s,
                    reference_start_s=seg.reference_start_s,
                    reference_end_s=seg.reference_end_s,
                    score=seg.score,
                )
                for seg in hit.segments
            ),
            text=_text_match(hit),
            sentence=_sentence_match(hit),
        )
        for hit in msg.hits
    )
    return SearchResult(
        hits=hits,
        query_duration_s=msg.query_duration_s,
        model_version=msg.model_version,
        mode=MODE_FROM_PROTO.get(msg.mode),
        stage_seconds={stage.stage: stage.seconds for stage in msg.stages},
        keywords=tuple(msg.keywords),
        recognized_text=msg.recognized_text,
    )


def neighbours(items: Iterable[pb.Neighbour]) -> list[Neighbour]:
    return [Neighbour(video=video_info(item.video), score=item.score) for item in items]


def stats(msg: pb.StatsResponse) -> Stats:
    return Stats(
        videos=msg.videos,
        keyframes=msg.keyframes,
        model_name=msg.model_name,
        model_version=msg.model_version,
        inference_backend=msg.inference_backend,
        catalog_backend=msg.catalog_backend,
        text_search=msg.text_search,
        text_model_version=msg.text_model_version,
        server_version=msg.server_version,
        captions=msg.captions,
        caption_model_version=msg.caption_model_version,
    )


def tag(msg: pb.Tag) -> Tag:
    return Tag(msg.text, msg.created_at, msg.source, int(msg.model_version))


def tag_suggestions(msg: pb.SuggestTagsResponse) -> TagSuggestions:
    return TagSuggestions(
        tags=tuple(SuggestedTag(tag(s.tag), float(s.distance)) for s in msg.tags),
        tag_model_version=int(msg.tag_model_version),
        stage_seconds=dict(msg.stage_seconds),
    )


def tag_page(msg: pb.ListTagsResponse) -> TagPage:
    return TagPage(tuple(tag(t) for t in msg.tags), msg.next_page_token)


def tagged_videos(msg: pb.TagVideosResponse) -> TaggedVideos:
    return TaggedVideos(tuple((v.video_id, tuple(v.tags)) for v in msg.videos),
                        int(msg.untagged_left))
