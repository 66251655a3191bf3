"""Typed results of the vidsearch API, so callers never handle protobuf messages."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# texture: near-duplicate search; duration: duration matching; keyframe: key-frame matching
SearchMode = Literal["texture", "duration", "keyframe"]
SEARCH_MODES: tuple[SearchMode, ...] = ("texture", "duration", "keyframe")


@dataclass(frozen=True)
class VideoInfo:
    """Stored metadata of an indexed video."""

    video_id: str
    duration_s: float
    model_version: int
    keyframe_count: int
    title: str = ""
    tags: tuple[str, ...] = ()
    source: str = ""
    content_sha256: str = ""
    created_at: str = ""  # ISO 8601 UTC: when the id was first indexed ("" if unknown)
    updated_at: str = ""  # ISO 8601 UTC: when it was last indexed or updated
    caption: str = ""  # the sentence the server's captioner wrote ("" = none)
    caption_model_version: int = 0


@dataclass(frozen=True)
class VideoFilter:
    """Which indexed videos a listing or search considers: every set field must hold
    (the server applies it inside its catalog)."""

    tags: tuple[str, ...] = ()  # carries every one of these tags
    video_ids: tuple[str, ...] = ()  # one of these ids
    title_prefix: str = ""  # the title starts with this (case-sensitive, <= 64 chars)
    model_version: int | None = None  # codes of this model version


@dataclass(frozen=True)
class VideoPage:
    """One page of ListVideos; pass ``next_page_token`` for the next ("" = last)."""

    videos: tuple[VideoInfo, ...]
    next_page_token: str = ""


@dataclass(frozen=True)
class IndexItem:
    """One video for :meth:`~vidsearch_client.VideoSearchClient.index_many`."""

    path: str | os.PathLike[str] | bytes
    video_id: str
    title: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexOutcome:
    """What became of one item of ``index_many``: its result, or the error it raised."""

    item: IndexItem
    result: IndexResult | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


IndexProgress = Callable[[int, int, IndexOutcome], None]  # (done, total, item just finished)


@dataclass(frozen=True)
class IndexResult:
    """What IndexVideo stored; ``replaced`` is True when the id already existed."""

    video: VideoInfo
    replaced: bool
    duplicate_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchOptions:
    """Per-request search knobs; None leaves the server's configured default."""

    mode: SearchMode | None = None
    top_k: int | None = None
    max_hamming: int | None = None
    coarse_limit: int | None = None
    max_texture_distance: float | None = None
    min_repetition: float | None = None
    model_version: int | None = None
    filter: VideoFilter | None = None  # only videos passing it are found

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {SEARCH_MODES}, got {self.mode!r}")


@dataclass(frozen=True)
class MatchedSegment:
    """Where the query and a reference match, in seconds on each timeline."""

    query_start_s: float
    query_end_s: float
    reference_start_s: float
    reference_end_s: float
    score: float


@dataclass(frozen=True)
class TextSearchOptions:
    """Per-request SearchByText knobs; None leaves the server's configured default."""

    top_k: int | None = None
    candidates: int | None = None  # stage 1 shortlist rescored by stage 2
    rerank: bool | None = None  # False: stage 1 (embedding) only
    keyword_enhancement: bool | None = None
    model_version: int | None = None
    filter: VideoFilter | None = None  # only videos passing it are found


@dataclass(frozen=True)
class TextMatch:
    """Scores behind a SearchByText hit: stage 1 similarity, stage 2 fine + coarse."""

    embedding_similarity: float
    rescored: bool
    score: float
    fine: float
    coarse: float


@dataclass(frozen=True)
class SentenceSearchOptions:
    """Per-request SearchBySentence / SearchByAudio knobs; None: the server's default."""

    top_k: int | None = None
    candidates: int | None = None  # videos each ranking brings to the fusion
    filter: VideoFilter | None = None  # only videos passing it are found


@dataclass(frozen=True)
class SentenceMatch:
    """Why a SearchBySentence / SearchByAudio hit ranks where it does (rank 0: not in
    that ranking); the hit's score is the reciprocal-rank fusion of both ranks."""

    similarity: float  # cosine of the query and caption sentence vectors
    vector_rank: int
    keyword_rank: int
    matched_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchHit:
    """One indexed video matching the query, with the distances that ranked it."""

    video: VideoInfo
    score: float
    hamming: int = 0
    texture_distance: float = 0.0
    repetition: float = 0.0
    segments: tuple[MatchedSegment, ...] = ()
    text: TextMatch | None = None  # SearchByText only
    sentence: SentenceMatch | None = None  # SearchBySentence / SearchByAudio only


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits (best first) plus what the server used to produce them."""

    hits: tuple[SearchHit, ...]
    query_duration_s: float
    model_version: int
    mode: SearchMode | None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()  # SearchByText: keywords the server extracted;
    # SearchBySentence / ByAudio: the query words matched against the captions
    recognized_text: str = ""  # SearchByAudio: what the server heard (and searched)


@dataclass(frozen=True)
class Neighbour:
    """A video similar to the one asked about; higher score = closer."""

    video: VideoInfo
    score: float


@dataclass(frozen=True)
class Stats:
    """Catalog size and the model the server runs."""

    videos: int
    keyframes: int
    model_name: str
    model_version: int
    inference_backend: str
    catalog_backend: str
    text_search: bool = False  # SearchByText served
    text_model_version: int = 0
    server_version: str = ""  # the vidsearch server's release
    captions: bool = False  # indexed videos are captioned (SearchBySentence, ByAudio)
    caption_model_version: int = 0


@dataclass(frozen=True)
class Tag:
    """A tag of the server's tag library."""

    text: str
    created_at: str = ""  # ISO 8601, UTC
    source: str = ""
    model_version: int = 0  # the tag encoder version of its stored vector


@dataclass(frozen=True)
class SuggestedTag:
    """A suggested tag; ``distance`` is 1 - its similarity to the video (0 = same): the
    cosine to the video, with its best-matching scene counted in (server tags.scene_weight)."""

    tag: Tag
    distance: float


@dataclass(frozen=True)
class TagSuggestions:
    tags: tuple[SuggestedTag, ...]
    tag_model_version: int
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TagPage:
    """One page of the tag library; pass ``next_page_token`` for the next ("" = last)."""

    tags: tuple[Tag, ...]
    next_page_token: str = ""


@dataclass(frozen=True)
class TaggedVideos:
    """What one TagVideos call stored: (video id, tags) pairs, and the untagged videos it
    did not reach (call again to go on)."""

    videos: tuple[tuple[str, tuple[str, ...]], ...]
    untagged_left: int


@dataclass(frozen=True)
class DownloadedVideo:
    """An indexed video's bytes, written by ``download`` (StreamVideo) to ``path``."""

    video_id: str
    path: Path
    size: int
    container: str  # sniffed by the server: "mp4", "matroska", ...
    content_sha256: str = ""  # recorded at indexing; "" when not computed


def to_jsonable(value: Any) -> Any:
    """Dataclasses/tuples as plain JSON types, for ``--json`` output."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    return value
