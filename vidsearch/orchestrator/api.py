"""Domain types the orchestrator takes and returns; the gRPC service only translates these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vidsearch.catalog.base import VideoFilter, VideoInfo

SearchMode = Literal["texture", "duration", "keyframe"]
"""How SearchByVideo ranks: ``texture`` near-duplicate search (whole videos by texture
distance), ``duration`` duration matching (repetition degree from key-frame textures,
with segments), ``keyframe`` key-frame matching (repetition degree on near codes)."""


class InvalidRequestError(ValueError):
    """The request cannot be served as asked (maps to INVALID_ARGUMENT); ``field``: the
    request field at fault, when it is one (sent to the client as a BadRequest)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class OverloadedError(RuntimeError):
    """Too many requests in flight for a stage (maps to RESOURCE_EXHAUSTED)."""


class DuplicateContentError(RuntimeError):
    """The same file is already indexed under another id and policy rejects it
    (maps to ALREADY_EXISTS)."""


@dataclass(frozen=True)
class SearchOptions:
    """Per-request knobs; None means the configured default."""

    mode: SearchMode | None = None
    top_k: int | None = None
    max_hamming: int | None = None
    coarse_limit: int | None = None
    max_texture_distance: float | None = None
    min_repetition: float | None = None
    model_version: int | None = None
    only: VideoFilter | None = None  # only videos passing this filter are found


@dataclass(frozen=True)
class MatchedSegment:
    """Where the query and a reference match, in seconds on each timeline."""

    query_start_s: float
    query_end_s: float
    reference_start_s: float
    reference_end_s: float
    score: float


@dataclass(frozen=True)
class SearchHit:
    video: VideoInfo
    score: float
    hamming: int
    texture_distance: float
    repetition: float
    segments: tuple[MatchedSegment, ...] = ()


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[SearchHit, ...]
    query_duration_s: float
    model_version: int
    mode: SearchMode
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TextSearchOptions:
    """Per-request knobs of SearchByText; None means the configured default."""

    top_k: int | None = None
    candidates: int | None = None
    rerank: bool | None = None
    keywords: bool | None = None
    model_version: int | None = None
    only: VideoFilter | None = None  # only videos passing this filter are found


@dataclass(frozen=True)
class TextHit:
    """One SearchByText result: ``score`` is stage 2's when rescored, else stage 1's."""

    video: VideoInfo
    score: float
    similarity: float
    rescored: bool = False
    fine: float = 0.0
    coarse: float = 0.0


@dataclass(frozen=True)
class TextSearchResult:
    hits: tuple[TextHit, ...]
    keywords: tuple[str, ...]
    model_version: int
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SentenceSearchOptions:
    """Per-request knobs of SearchBySentence / SearchByAudio; None: configured default."""

    top_k: int | None = None
    candidates: int | None = None  # videos each ranking brings to the fusion
    only: VideoFilter | None = None


@dataclass(frozen=True)
class SentenceHit:
    """One SearchBySentence result: the fused score and the two rankings behind it
    (rank 0: not in that ranking)."""

    video: VideoInfo  # its caption in ``video.caption``
    score: float  # reciprocal-rank fusion of the two ranks
    similarity: float  # cosine of the query's and the caption's sentence vectors
    vector_rank: int
    keyword_rank: int
    matched_words: tuple[str, ...] = ()  # query words the caption holds


@dataclass(frozen=True)
class SentenceSearchResult:
    hits: tuple[SentenceHit, ...]
    words: tuple[str, ...]  # the query words matched against the captions' full text
    model_version: int  # of the text encoder that embedded the query
    recognized_text: str = ""  # SearchByAudio: what was heard
    stage_seconds: dict[str, float] = field(default_factory=dict)


class CaptionsUnavailableError(RuntimeError):
    """This deployment serves no captioner, or no text encoder for sentence vectors
    (maps to FAILED_PRECONDITION: retrying will not help)."""


class TextSearchUnavailableError(RuntimeError):
    """This deployment serves no text models, or its catalog has no text vectors
    (maps to FAILED_PRECONDITION: retrying will not help)."""


@dataclass(frozen=True)
class IndexResult:
    video: VideoInfo
    replaced: bool
    duplicate_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceStats:
    videos: int
    keyframes: int
    model_name: str
    model_version: int
    inference_backend: str
    catalog_backend: str
    text_search: bool = False
    text_model_version: int = 0
    captions: bool = False
    caption_model_version: int = 0
