"""The catalog interface: hash codes (coarse filter) and textures (rerank), in Qdrant form.

Per video one point with named vectors ``hash`` (128 x ±1, Dot, binary quantization)
and ``texture`` (float, Euclid), plus ``embedding`` (recommendation embedding, Cosine)
and ``text`` (text search: query-independent embedding in the text space, Cosine, with the
per-frame features stage 2 rescores in the payload); per sampled second one key-frame
point (``hash`` + ``texture`` + time). The one implementation, ``QdrantCatalog``, runs
on Qdrant Edge on disk or on qdrant-client (a cluster, or local mode); both pass the same
shared test suite and give the same answers (``tests/catalog/test_congruence.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from vidsearch.deadline import RequestBudget

if TYPE_CHECKING:
    from vidsearch.catalog.tags import TagLibrary

HASH_BITS = 128


class CatalogError(RuntimeError):
    """Base class for catalog failures."""


class CatalogUnavailableError(CatalogError):
    """The catalog store cannot be reached now; retrying later may succeed."""


class VideoNotFoundError(CatalogError, KeyError):
    """No indexed video has that id."""


class IncompatibleModelError(CatalogError):
    """Codes in the catalog were produced by a model version the query cannot be compared with."""


def hamming_to_score_threshold(max_hamming: int) -> float:
    """Dot score of ±1 codes is 128 - 2*H; Qdrant compares strictly, so use a half-way value."""
    return float(HASH_BITS - 2 * max_hamming) - 1.0


def score_to_hamming(score: float) -> int:
    """Inverse of the Dot score for ±1 codes."""
    return round((HASH_BITS - score) / 2.0)


@dataclass(frozen=True)
class KeyFrame:
    """One sampled second of a video: its code, texture and time."""

    time_s: float
    hash_bits: np.ndarray  # (128,) float32 of ±1
    texture: np.ndarray  # (D_texture,) float32


@dataclass(frozen=True)
class TextFeatures:
    """The video side of text search for one video, computed at index time."""

    embedding: np.ndarray  # (E,) float32, unit: stage 1 vector in the joint text space
    local: np.ndarray  # (T,D) float32: adaptive-weighted local features (fine score)
    frames: np.ndarray  # (T,D) float32: temporal frame features (text-conditioned pooling)
    model_version: int


@dataclass(frozen=True)
class TagFeature:
    """A video's vector in the tag encoder's space, computed at index time and stored with
    the video, so tags are suggested for an indexed video without decoding it again."""

    vector: np.ndarray  # (E,) float32
    model_version: int  # the tag encoder version whose space it is in
    scenes: np.ndarray | None = None  # (S, E) float32: the video's scenes, same space


@dataclass(frozen=True)
class Caption:
    """A video's generated sentence, and its vector in the sentence space (MiniLM)."""

    text: str
    model_version: int  # the captioner's version that wrote it
    vector: np.ndarray | None = None  # (S,) float32, SearchBySentence; None: not embedded
    vector_version: int = 0  # the text encoder version of ``vector``


@dataclass(frozen=True)
class VideoRecord:
    """Everything stored for one indexed video."""

    video_id: str
    hash_bits: np.ndarray  # (128,) float32 of ±1, the whole-video code
    texture: np.ndarray  # (D_texture,) float32, the whole-video texture
    duration_s: float
    model_version: int
    keyframes: Sequence[KeyFrame] = ()
    embedding: np.ndarray | None = None  # recommendation embedding
    text: TextFeatures | None = None  # text-search features for SearchByText
    tag_feature: TagFeature | None = None  # for SuggestTags by video id
    caption: Caption | None = None  # generated sentence (SearchBySentence / ByAudio)
    title: str = ""
    tags: tuple[str, ...] = ()
    source: str = ""
    content_sha256: str = ""


@dataclass(frozen=True)
class VideoInfo:
    """Stored metadata of an indexed video (no vectors)."""

    video_id: str
    duration_s: float
    model_version: int
    keyframe_count: int
    title: str = ""
    tags: tuple[str, ...] = ()
    source: str = ""
    content_sha256: str = ""
    text_model_version: int = 0  # text features' model version; 0 = none stored
    created_at: str = ""  # ISO 8601 UTC: when the id was first indexed ("" if unknown)
    updated_at: str = ""  # ISO 8601 UTC: when it was last indexed or updated
    caption: str = ""  # the generated sentence ("" = none)
    caption_model_version: int = 0  # the captioner's version that wrote it; 0 = none


@dataclass(frozen=True)
class VideoFilter:
    """Which videos a listing or a search considers: every set field must hold (empty:
    every video). Applied inside the catalog, on indexed payload fields (``filters``)."""

    tags: tuple[str, ...] = ()  # carries every one of these
    video_ids: tuple[str, ...] = ()  # one of these ids
    title_prefix: str = ""  # the title starts with this (case-sensitive)
    model_version: int | None = None  # codes of this model version

    def is_empty(self) -> bool:
        return not (self.tags or self.video_ids or self.title_prefix) and (
            self.model_version is None)


@dataclass(frozen=True)
class VideoCandidate:
    """A video that passed the coarse filter, with its distances to the query."""

    info: VideoInfo
    hamming: int
    texture_distance: float


@dataclass(frozen=True)
class KeyFrameHit:
    """An indexed key frame whose code is near a query key frame."""

    video_id: str
    time_s: float
    hamming: int
    texture_distance: float


@dataclass(frozen=True)
class TextCandidate:
    """A video found by its text-space embedding, with the features stage 2 rescores."""

    info: VideoInfo
    similarity: float  # cosine of the query and video embeddings
    features: TextFeatures


@dataclass(frozen=True)
class SentenceCandidate:
    """A video found by its stored sentence (``info.caption``), with the cosine of the
    query's and the caption's sentence vectors."""

    info: VideoInfo
    similarity: float


@dataclass(frozen=True)
class CatalogStats:
    videos: int
    keyframes: int
    model_versions: tuple[int, ...] = field(default_factory=tuple)


@runtime_checkable
class Catalog(Protocol):
    """Stores videos and answers coarse (Hamming) then fine (texture) queries."""

    def upsert_video(self, video: VideoRecord) -> None:
        """Add or replace a video; all its points become visible together, and durably."""
        ...

    def upsert_videos(self, videos: Sequence[VideoRecord]) -> None:
        """``upsert_video`` for a batch (distinct ids): each video visible whole or not at
        all, the batch made durable once (bulk loads)."""
        ...

    def delete_video(self, video_id: str) -> bool:
        """Remove a video and its key frames; False if it was not there."""
        ...

    def get_video(self, video_id: str) -> VideoInfo | None:
        """Metadata of an indexed video, or None."""
        ...

    def get_videos(
        self, video_ids: Sequence[str], *, budget: RequestBudget | None = None
    ) -> dict[str, VideoInfo]:
        """Metadata of many videos in one call, by id; ids not indexed are absent."""
        ...

    def iter_videos(self, batch: int = 256) -> Iterator[VideoInfo]:
        """Every indexed video, in id order of the store (for re-indexing and audits)."""
        ...

    def find_by_content(self, content_sha256: str, limit: int = 16) -> list[str]:
        """Ids of indexed videos whose file had this SHA-256 (the same file, any id)."""
        ...

    def search_videos(
        self,
        hash_bits: np.ndarray,
        texture: np.ndarray,
        *,
        max_hamming: int | None,
        coarse_limit: int,
        limit: int,
        max_texture_distance: float | None = None,
        budget: RequestBudget | None = None,
        only: VideoFilter | None = None,
    ) -> list[VideoCandidate]:
        """Coarse Hamming filter on whole-video codes (server-side prefetch), then the
        nearest by texture distance, ascending. ``budget``: the request's deadline and
        cancellation (raises its RequestStoppedError rather than start a late query);
        ``only``: videos passing this filter, no others."""
        ...

    def search_keyframes(
        self,
        hash_bits: np.ndarray,
        texture: np.ndarray,
        *,
        max_hamming: int | None,
        limit_per_frame: int,
        budget: RequestBudget | None = None,
        only: VideoFilter | None = None,
    ) -> list[list[KeyFrameHit]]:
        """For each query key frame (rows of ``hash_bits``/``texture``), indexed key frames
        within ``max_hamming``, nearest first; ``budget`` and ``only`` as in
        :meth:`search_videos`."""
        ...

    def keyframe_vectors(
        self, video_ids: Iterable[str], *, budget: RequestBudget | None = None
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{video_id: (times_s [T], textures [T,D])} of the committed key frames of each
        video, in time order (the reference side of a similarity matrix); videos that are
        not indexed are absent."""
        ...

    def kth_neighbour_similarity(
        self, textures: np.ndarray, k: int, *, budget: RequestBudget | None = None
    ) -> np.ndarray:
        """For each row of ``textures`` [T,D], the dot similarity of its k-th nearest
        committed key frame in this catalog ([T] float32; NaN where the catalog holds
        fewer than k). Asked of a background catalog, it is the normalisation bias."""
        ...

    def nearest_by_embedding(self, video_id: str, limit: int) -> list[tuple[VideoInfo, float]]:
        """Recommendations: the videos most similar (cosine) to an indexed one, itself excluded."""
        ...

    def tag_library(self, dim: int) -> TagLibrary:
        """The live tag library beside this catalog (``dim``: the tag encoder's size)."""
        ...

    def tag_feature(self, video_id: str) -> TagFeature | None:
        """The tag feature stored with an indexed video (None: it has none);
        VideoNotFoundError when the id is not indexed."""
        ...

    def set_video_tags(self, video_id: str, tags: Sequence[str]) -> None:
        """Replace an indexed video's tags (VideoNotFoundError when not indexed)."""
        ...

    def update_video(
        self, video_id: str, *, title: str | None = None, tags: Sequence[str] | None = None
    ) -> VideoInfo:
        """Replace an indexed video's title and/or tags (None: keep), no re-indexing; the
        stored result (VideoNotFoundError when not indexed)."""
        ...

    def list_videos(
        self, only: VideoFilter | None, *, page_size: int, offset: str | None = None,
        budget: RequestBudget | None = None,
    ) -> tuple[list[VideoInfo], str | None]:
        """One page of videos passing ``only`` in the store's order, and the offset of
        the next page (None after the last)."""
        ...

    def videos_with_tag(self, tag: str, limit: int) -> list[VideoInfo]:
        """Up to ``limit`` indexed videos carrying ``tag``."""
        ...

    def has_text_vectors(self) -> bool:
        """Whether videos can carry text features (a catalog created without cannot)."""
        ...

    def search_text(
        self,
        embedding: np.ndarray,
        *,
        limit: int,
        model_version: int,
        budget: RequestBudget | None = None,
        only: VideoFilter | None = None,
    ) -> list[TextCandidate]:
        """Text search stage 1: videos nearest (cosine) to a text embedding, among those whose
        text features came from ``model_version`` (and passing ``only``); [] when the
        catalog has no text vectors."""
        ...

    def has_sentence_vectors(self) -> bool:
        """Whether videos can carry caption sentence vectors (fixed at creation)."""
        ...

    def search_sentences(
        self,
        vector: np.ndarray,
        words: Sequence[str],
        *,
        limit: int,
        vector_version: int,
        budget: RequestBudget | None = None,
        only: VideoFilter | None = None,
    ) -> tuple[list[SentenceCandidate], list[SentenceCandidate]]:
        """SearchBySentence's two rankings of the videos whose sentence vectors came from
        ``vector_version``: the ``limit`` nearest sentence vectors, and the ``limit``
        nearest among captions holding any of ``words`` (full-text index)."""
        ...

    def stats(self) -> CatalogStats:
        """Point counts and model versions (counts cost a call each: not per search)."""
        ...

    def model_versions(self) -> tuple[int, ...]:
        """Model versions of the stored codes, ascending; cached, so a search may ask."""
        ...

    def is_ready(self) -> bool:
        """Cheap reachability check for health probes; never raises."""
        ...

    def close(self) -> None: ...
