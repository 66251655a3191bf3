"""Proto ⇄ domain translation for the servicer: field validation and response building.

Everything here is pure (no gRPC context): a bad field raises ``ServiceError`` with
INVALID_ARGUMENT and a message naming the field and its allowed range.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from typing import Any

from google.protobuf import timestamp_pb2
from vidsearch_client.v1 import vidsearch_pb2 as pb

from vidsearch.catalog.base import VideoFilter, VideoInfo
from vidsearch.catalog.filters import MAX_FILTER_IDS, MAX_FILTER_TAGS, MAX_TITLE_PREFIX
from vidsearch.catalog.tags import TagInfo
from vidsearch.orchestrator.api import (
    SearchMode,
    SearchOptions,
    SearchResult,
    SentenceSearchOptions,
    SentenceSearchResult,
    TextSearchOptions,
    TextSearchResult,
)
from vidsearch.service.errors import invalid_argument

MAX_ID_CHARS = 256
MAX_TITLE_CHARS = 1024
MAX_TAGS = 64
MAX_TAG_CHARS = 128
_MODES: dict[int, SearchMode] = {
    pb.SEARCH_MODE_TEXTURE: "texture",
    pb.SEARCH_MODE_DURATION: "duration",
    pb.SEARCH_MODE_KEYFRAME: "keyframe",
}
_MODES_TO_PROTO = {name: value for value, name in _MODES.items()}


# -- validation ---------------------------------------------------------------------------
def check_text(name: str, value: str, *, max_chars: int, required: bool = False) -> str:
    """Non-empty when required, bounded, and free of control characters."""
    if required and not value:
        raise invalid_argument(f"{name} must not be empty", name)
    if len(value) > max_chars:
        raise invalid_argument(
            f"{name} is {len(value)} characters long; the limit is {max_chars}", name)
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise invalid_argument(f"{name} must not contain control characters", name)
    return value


def check_id(value: str, name: str = "video_id") -> str:
    return check_text(name, value, max_chars=MAX_ID_CHARS, required=True)


def check_tags(tags: Any, name: str = "tags", limit: int = MAX_TAGS) -> tuple[str, ...]:
    if len(tags) > limit:
        raise invalid_argument(f"at most {limit} tags are allowed, got {len(tags)}", name)
    return tuple(check_text(f"{name}[{i}]", t, max_chars=MAX_TAG_CHARS, required=True)
                 for i, t in enumerate(tags))


def int_in(msg: Any, name: str, low: int, high: int) -> int | None:
    if not msg.HasField(name):
        return None
    value = int(getattr(msg, name))
    if not low <= value <= high:
        raise invalid_argument(f"{name} must be between {low} and {high}, got {value}", name)
    return value


def _float_in(msg: Any, name: str, low: float, high: float) -> float | None:
    if not msg.HasField(name):
        return None
    value = float(getattr(msg, name))
    if not (math.isfinite(value) and low <= value <= high):
        raise invalid_argument(
            f"{name} must be a finite number in [{low}, {high}], got {value}", name)
    return value


def options_from_proto(msg: pb.SearchOptions) -> SearchOptions:
    """Unset fields stay None so the orchestrator applies the configured defaults."""
    mode: SearchMode | None = None
    if msg.mode != pb.SEARCH_MODE_UNSPECIFIED:
        if msg.mode not in _MODES:
            raise invalid_argument(f"unknown search mode {msg.mode}", "mode")
        mode = _MODES[msg.mode]
    return SearchOptions(
        mode=mode,
        top_k=int_in(msg, "top_k", 1, 1000),
        max_hamming=int_in(msg, "max_hamming", 0, 128),
        coarse_limit=int_in(msg, "coarse_limit", 1, 100_000),
        max_texture_distance=_float_in(msg, "max_texture_distance", 0.0, math.inf),
        min_repetition=_float_in(msg, "min_repetition", 0.0, 1.0),
        model_version=int_in(msg, "model_version", 1, 2**31 - 1),
        only=filter_from_proto(msg.filter),
    )


def filter_from_proto(msg: pb.VideoFilter) -> VideoFilter:
    """A request's filter, checked (its fields named ``filter.*`` in errors)."""
    if len(msg.video_ids) > MAX_FILTER_IDS:
        raise invalid_argument(f"filter.video_ids holds {len(msg.video_ids)} ids; at most "
                               f"{MAX_FILTER_IDS} are allowed", "filter.video_ids")
    version = int(msg.model_version) if msg.HasField("model_version") else None
    if version == 0:
        raise invalid_argument("filter.model_version must be >= 1 when set",
                               "filter.model_version")
    return VideoFilter(
        tags=check_tags(msg.tags, "filter.tags", MAX_FILTER_TAGS),
        video_ids=tuple(check_id(v, f"filter.video_ids[{i}]")
                        for i, v in enumerate(msg.video_ids)),
        title_prefix=check_text("filter.title_prefix", msg.title_prefix,
                                max_chars=MAX_TITLE_PREFIX),
        model_version=version,
    )


def text_options_from_proto(msg: pb.TextSearchOptions) -> TextSearchOptions:
    """Unset fields stay None so the orchestrator applies the configured defaults."""
    return TextSearchOptions(
        top_k=int_in(msg, "top_k", 1, 1000),
        candidates=int_in(msg, "candidates", 1, 1000),
        rerank=msg.rerank if msg.HasField("rerank") else None,
        keywords=msg.keyword_enhancement if msg.HasField("keyword_enhancement") else None,
        model_version=int_in(msg, "model_version", 1, 2**31 - 1),
        only=filter_from_proto(msg.filter),
    )


# -- domain → proto -----------------------------------------------------------------------
def video_to_proto(info: VideoInfo) -> pb.VideoInfo:
    return pb.VideoInfo(
        video_id=info.video_id,
        duration_s=info.duration_s,
        model_version=info.model_version,
        keyframe_count=info.keyframe_count,
        title=info.title,
        tags=list(info.tags),
        source=info.source,
        content_sha256=info.content_sha256,
        create_time=_timestamp(info.created_at),
        update_time=_timestamp(info.updated_at),
        caption=info.caption,
        caption_model_version=info.caption_model_version,
    )


def _timestamp(iso: str) -> timestamp_pb2.Timestamp | None:
    """An ISO 8601 time as a Timestamp; None (unset) when unknown."""
    if not iso:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(iso))
    return stamp


def search_to_proto(result: SearchResult) -> pb.SearchResponse:
    hits = [
        pb.SearchHit(
            video=video_to_proto(hit.video),
            score=hit.score,
            hamming=hit.hamming,
            texture_distance=hit.texture_distance,
            repetition=hit.repetition,
            segments=[
                pb.MatchedSegment(
                    query_start_s=s.query_start_s,
                    query_end_s=s.query_end_s,
                    reference_start_s=s.reference_start_s,
                    reference_end_s=s.reference_end_s,
                    score=s.score,
                )
                for s in hit.segments
            ],
        )
        for hit in result.hits
    ]
    return pb.SearchResponse(
        hits=hits,
        query_duration_s=result.query_duration_s,
        model_version=result.model_version,
        mode=_MODES_TO_PROTO.get(result.mode, pb.SEARCH_MODE_UNSPECIFIED),  # type: ignore[arg-type, unused-ignore]
        stages=[pb.StageTiming(stage=k, seconds=v) for k, v in result.stage_seconds.items()],
    )


def text_search_to_proto(result: TextSearchResult) -> pb.SearchResponse:
    hits = [
        pb.SearchHit(
            video=video_to_proto(hit.video),
            score=hit.score,
            text=pb.TextMatch(
                embedding_similarity=hit.similarity,
                rescored=hit.rescored,
                score=hit.score if hit.rescored else 0.0,
                fine=hit.fine,
                coarse=hit.coarse,
            ),
        )
        for hit in result.hits
    ]
    return pb.SearchResponse(
        hits=hits,
        model_version=result.model_version,
        stages=[pb.StageTiming(stage=k, seconds=v) for k, v in result.stage_seconds.items()],
        keywords=list(result.keywords),
    )


def sentence_options_from_proto(msg: pb.SentenceSearchOptions) -> SentenceSearchOptions:
    """Unset fields stay None so the orchestrator applies the configured defaults."""
    return SentenceSearchOptions(
        top_k=int_in(msg, "top_k", 1, 1000),
        candidates=int_in(msg, "candidates", 1, 1000),
        only=filter_from_proto(msg.filter),
    )


def sentence_search_to_proto(result: SentenceSearchResult) -> pb.SearchResponse:
    hits = [
        pb.SearchHit(
            video=video_to_proto(hit.video),
            score=hit.score,
            sentence=pb.SentenceMatch(
                similarity=hit.similarity, vector_rank=hit.vector_rank,
                keyword_rank=hit.keyword_rank, matched_words=list(hit.matched_words),
            ),
        )
        for hit in result.hits
    ]
    return pb.SearchResponse(
        hits=hits,
        model_version=result.model_version,
        stages=[pb.StageTiming(stage=k, seconds=v) for k, v in result.stage_seconds.items()],
        keywords=list(result.words),
        recognized_text=result.recognized_text,
    )


def tag_to_proto(tag: TagInfo) -> pb.Tag:
    return pb.Tag(text=tag.text, created_at=tag.created_at, source=tag.source,
                  model_version=tag.model_version)
