"""Backend-neutral schema of the catalog: store names, vector names, point ids, payloads.

Two stores (codes and textures of videos, and of key frames, in one place each):

- ``videos``: one point per video. Named vectors ``hash`` (128 x ±1, Dot, binary
  quantization, no HNSW graph so every query is an exact scan), ``texture`` (Euclid)
  and, when configured, ``embedding`` (Cosine; a video may have none). The video
  point doubles as the *commit marker* of an upsert: its payload names the
  ``generation`` of the key frames that belong to it.
- ``keyframes``: one point per sampled second: ``hash`` + ``texture``, payload
  ``video_id``, ``time_s``, ``generation``.

Point ids are uuid5 values. A video id maps to one fixed point id; a key frame id is
derived from (video id, generation, frame index). The generation is part of the key
frame id on purpose: if re-indexing reused the old ids it would overwrite the frames
of the committed version before the new one commits, so a crash mid-way would leave
the old version without its frames.

``QdrantCatalog`` writes these through either point store (Qdrant Edge, qdrant-client),
so both engines hold identical data.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from vidsearch.catalog.base import (
    HASH_BITS,
    IncompatibleModelError,
    TextFeatures,
    VideoInfo,
    VideoRecord,
    hamming_to_score_threshold,
)

SCHEMA_VERSION = 1

VIDEOS = "videos"
KEYFRAMES = "keyframes"
TAGS = "tags"  # the live tag library (``catalog.tags``): one point per tag

VEC_HASH = "hash"
VEC_TEXTURE = "texture"
VEC_EMBEDDING = "embedding"
VEC_TEXT = "text"
VEC_TAG = "tag"
VEC_SENTENCE = "sentence"  # the caption's sentence vector (MiniLM), SearchBySentence

# Payload fields with an index: filters on them must not scan payloads.
F_VIDEO_ID = "video_id"
F_GENERATION = "generation"
F_MODEL_VERSION = "model_version"
F_TIME_S = "time_s"
F_CONTENT_SHA256 = "content_sha256"
F_TEXT_VERSION = "text_model_version"
F_TAGS = "tags"
F_TITLE_PREFIXES = "title_prefixes"  # every prefix of the title (``filters``)
MAX_TITLE_PREFIX = 64  # longest prefix stored, so the longest a filter may ask for
F_CAPTION = "caption"  # the generated sentence: full-text index (word tokenizer)
F_CAPTION_VERSION = "caption_model_version"
F_SENTENCE_VERSION = "sentence_model_version"  # text encoder version of the sentence vector
F_TAG_TEXT = "text"  # on a tag point
F_TAG_VERSION = "tag_model_version"  # on a tag point: the tag encoder version of its vector

# Text search stage 2 inputs, stored with the video (never indexed, never in VideoInfo).
P_TEXT_LOCAL = "text_local"
P_TEXT_FRAMES = "text_frames"
# The video's tag feature (in the tag encoder's space) and its model version, stored with
# the video at index time so SuggestTags for an indexed video needs no decode.
P_TAG_FEATURE = "tag_feature"
P_TAG_FEATURE_VERSION = "tag_feature_version"
P_TAG_SCENES = "tag_scenes"  # the scene tag features, encode_matrix (float16)
# What VideoInfo is built from: reads that return videos fetch these fields only.
INFO_FIELDS = [F_VIDEO_ID, "title", F_TAGS, "duration_s", "source", F_MODEL_VERSION,
               F_CONTENT_SHA256, "keyframe_count", F_TEXT_VERSION, "created_at", "updated_at",
               "indexed_at", F_CAPTION, F_CAPTION_VERSION]
TEXT_FIELDS = [*INFO_FIELDS, P_TEXT_LOCAL, P_TEXT_FRAMES]

_NAMESPACE = uuid.UUID("5b0e7a53-8a43-4d47-9a59-2a0c6f1f7d11")


@dataclass(frozen=True)
class Dims:
    """Vector sizes a catalog was created with; fixed for its lifetime."""

    texture: int
    embedding: int | None
    text: int | None = None
    sentence: int | None = None  # caption sentence vectors (absent in older catalogs)

    def __post_init__(self) -> None:
        if self.texture < 1:
            raise ValueError(f"texture_dim must be >= 1, got {self.texture}")
        for name, size in (("embedding_dim", self.embedding), ("text_dim", self.text),
                           ("sentence_dim", self.sentence)):
            if size is not None and size < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {size}")


@dataclass(frozen=True)
class WantedDims:
    """Vector sizes a caller asks for; None: whatever an existing catalog has (a new one
    takes its texture size from its first video)."""

    texture: int | None = None
    embedding: int | None = None
    text: int | None = None
    sentence: int | None = None

    def for_new(self, texture: int | None = None) -> Dims | None:
        """Sizes to create a catalog with (``texture``: the first video's), if known."""
        size = self.texture if texture is None else texture
        return None if size is None else Dims(size, self.embedding, self.text, self.sentence)

    def check(self, have: Dims, where: str) -> Dims:
        """``have`` if it matches. A catalog created without text vectors stays so (a store
        cannot gain a vector): a wanted text (or sentence) size is not checked against a
        stored None, text (sentence) search just finds nothing."""
        for name, want, size in (
            ("texture_dim", self.texture, have.texture),
            ("embedding_dim", self.embedding, have.embedding),
            ("text_dim", self.text if have.text is not None else None, have.text),
            ("sentence_dim", self.sentence if have.sentence is not None else None,
             have.sentence),
        ):
            if want is not None and want != size:
                raise IncompatibleModelError(f"{where} has {name}={size}, not {want}")
        return have


def video_point_id(video_id: str) -> str:
    """Fixed id of a video's point, so an upsert of the same video replaces it."""
    return str(uuid.uuid5(_NAMESPACE, f"video\x00{video_id}"))


def tag_point_id(text: str) -> str:
    """Fixed id of a tag's point: one point per tag text, so re-adding a tag replaces it."""
    return str(uuid.uuid5(_NAMESPACE, f"tag\x00{text}"))


def keyframe_point_id(video_id: str, generation: int, index: int) -> str:
    """Id of one key frame of one written version of a video."""
    return str(uuid.uuid5(_NAMESPACE, f"keyframe\x00{video_id}\x00{generation}\x00{index}"))


class GenerationClock:
    """Strictly increasing write generations (microseconds since the epoch).

    Time-based so generations written by different processes still order roughly by
    time, and small enough (< 2**53) to survive a round trip through float payloads.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1000, self._last + 1)
            return self._last


def _check_pm1(bits: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(bits, dtype=np.float32)
    if arr.shape[-1:] != (HASH_BITS,):
        raise ValueError(f"{what} must have {HASH_BITS} columns, got shape {arr.shape}")
    if not np.all(np.abs(arr) == 1.0):
        raise ValueError(f"{what} must hold only -1/+1 values (the sign of the code)")
    return arr


def _check_vec(vec: np.ndarray, dim: int, what: str) -> np.ndarray:
    arr = np.asarray(vec, dtype=np.float32)
    if arr.shape[-1:] != (dim,):
        raise ValueError(f"{what} must have {dim} columns, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} holds NaN or infinite values")
    return arr


def check_query(
    hash_bits: np.ndarray, texture: np.ndarray, dims: Dims, *, rows: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Validate query vectors: one of each, or matching rows of each when ``rows``."""
    h = _check_pm1(hash_bits, "hash_bits")
    t = _check_vec(texture, dims.texture, "texture")
    want = 2 if rows else 1
    if h.ndim != want or t.ndim != want or (rows and h.shape[0] != t.shape[0]):
        raise ValueError(f"query shapes {h.shape} and {t.shape} do not match (rows={rows})")
    return h, t


def check_record(video: VideoRecord, dims: Dims) -> None:
    """Reject a record the store would silently mangle (wrong sizes, non ±1 codes)."""
    if not video.video_id:
        raise ValueError("video_id must not be empty")
    _one(_check_pm1(video.hash_bits, "hash_bits"), "hash_bits")
    _one(_check_vec(video.texture, dims.texture, "texture"), "texture")
    for i, frame in enumerate(video.keyframes):
        _one(_check_pm1(frame.hash_bits, f"keyframe {i} hash_bits"), f"keyframe {i} hash_bits")
        _one(_check_vec(frame.texture, dims.texture, f"keyframe {i} texture"), "texture")
    if video.embedding is not None:
        if dims.embedding is None:
            raise ValueError("this catalog was created without embeddings (embedding_dim=None)")
        emb = _one(_check_vec(video.embedding, dims.embedding, "embedding"), "embedding")
        if not np.any(emb):
            raise ValueError("embedding must be non-zero (cosine)")
    if video.text is not None:
        _check_text(video.text, dims)
    if video.caption is not None and video.caption.vector is not None:
        if dims.sentence is None:
            raise ValueError("this catalog was created without sentence vectors "
                             "(sentence_dim=None)")
        vec = _one(_check_vec(video.caption.vector, dims.sentence, "sentence vector"),
                   "sentence vector")
        if not np.any(vec):
            raise ValueError("sentence vector must be non-zero (cosine)")
    if video.tag_feature is not None:
        feature = _one(_check_vec(video.tag_feature.vector, np.size(video.tag_feature.vector),
                                  "tag feature"), "tag feature")
        if not np.any(feature):
            raise ValueError("tag feature must be non-zero (cosine)")
        if video.tag_feature.scenes is not None:
            scenes = _check_vec(video.tag_feature.scenes, feature.size, "scene tag features")
            if scenes.ndim != 2 or not np.all(np.any(scenes, axis=1)):
                raise ValueError("scene tag features must be non-zero rows (cosine), got "
                                 f"shape {scenes.shape}")


def _check_text(text: TextFeatures, dims: Dims) -> None:
    if dims.text is None:
        raise ValueError("this catalog was created without text embeddings (text_dim=None)")
    emb = _one(_check_vec(text.embedding, dims.text, "text embedding"), "text embedding")
    if not np.any(emb):
        raise ValueError("text embedding must be non-zero (cosine)")
    local, frames = np.asarray(text.local), np.asarray(text.frames)
    if local.ndim != 2 or local.shape != frames.shape or local.shape[0] < 1:
        raise ValueError(f"text local/frame features must be [T,D] alike, got {local.shape} "
                         f"and {frames.shape}")
    _check_vec(local, local.shape[1], "text local features")
    _check_vec(frames, frames.shape[1], "text frame features")


def check_textures(textures: np.ndarray, dims: Dims, k: int) -> np.ndarray:
    """Validate the rows of a k-nearest-neighbour query (copy descriptors of key frames)."""
    check_limits(k)
    arr = _check_vec(textures, dims.texture, "textures")
    if arr.ndim != 2:
        raise ValueError(f"textures must be rows [T,{dims.texture}], got shape {arr.shape}")
    return arr


def keyframe_arrays(
    points: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]], texture_dim: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(payload, vectors) of key-frame points -> {video_id: (times_s [T], textures [T,D])},
    each video's frames in time order (the rows of a similarity matrix)."""
    grouped: dict[str, list[tuple[float, Any]]] = {}
    for payload, vectors in points:
        grouped.setdefault(str(payload[F_VIDEO_ID]), []).append(
            (float(payload[F_TIME_S]), vectors[VEC_TEXTURE])
        )
    out = {}
    for video_id, frames in grouped.items():
        frames.sort(key=lambda f: f[0])
        times = np.array([t for t, _ in frames], dtype=np.float64)
        textures = np.asarray([v for _, v in frames], dtype=np.float32).reshape(-1, texture_dim)
        out[video_id] = (times, textures)
    return out


def _one(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one vector, got shape {arr.shape}")
    return arr


def video_vectors(video: VideoRecord) -> dict[str, Any]:
    vectors = {
        VEC_HASH: np.asarray(video.hash_bits, dtype=np.float32).tolist(),
        VEC_TEXTURE: np.asarray(video.texture, dtype=np.float32).tolist(),
    }
    if video.embedding is not None:
        vectors[VEC_EMBEDDING] = np.asarray(video.embedding, dtype=np.float32).tolist()
    if video.text is not None:
        vectors[VEC_TEXT] = np.asarray(video.text.embedding, dtype=np.float32).tolist()
    if video.caption is not None and video.caption.vector is not None:
        vectors[VEC_SENTENCE] = np.asarray(video.caption.vector, dtype=np.float32).tolist()
    return vectors


def encode_matrix(arr: np.ndarray) -> dict[str, Any]:
    """[T,D] float -> JSON-safe float16 bytes (base64): a quarter of a float list's size."""
    a = np.ascontiguousarray(arr, dtype="<f2")
    return {"shape": list(a.shape), "f16": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_matrix(obj: Mapping[str, Any]) -> np.ndarray:
    shape = tuple(int(n) for n in obj["shape"])
    raw = np.frombuffer(base64.b64decode(obj["f16"]), dtype="<f2")
    return raw.reshape(shape).astype(np.float32)


def text_from_point(payload: Mapping[str, Any], vectors: Mapping[str, Any]) -> TextFeatures:
    """The stored text-search features of a video point (payload + ``text`` vector)."""
    return TextFeatures(
        embedding=np.asarray(vectors[VEC_TEXT], dtype=np.float32),
        local=decode_matrix(payload[P_TEXT_LOCAL]),
        frames=decode_matrix(payload[P_TEXT_FRAMES]),
        model_version=int(payload[F_TEXT_VERSION]),
    )


def check_text_query(embedding: np.ndarray, dims: Dims, limit: int) -> np.ndarray | None:
    """Validated text query vector, or None when the catalog stores no text vectors."""
    check_limits(limit)
    if dims.text is None:
        return None
    return _one(_check_vec(embedding, dims.text, "text embedding"), "text embedding")


def check_sentence_query(vector: np.ndarray, dims: Dims, limit: int) -> np.ndarray:
    """Validated sentence query vector (the catalog stores sentence vectors)."""
    check_limits(limit)
    assert dims.sentence is not None
    return _one(_check_vec(vector, dims.sentence, "sentence vector"), "sentence vector")


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def title_prefixes(title: str) -> list[str]:
    """What a ``title_prefix`` filter matches: each prefix of the title, up to
    MAX_TITLE_PREFIX characters (Qdrant's keyword index matches whole values)."""
    return [title[:n] for n in range(1, min(len(title), MAX_TITLE_PREFIX) + 1)]


def video_payload(
    video: VideoRecord, generation: int, created_at: str | None = None
) -> dict[str, Any]:
    """``created_at``: the replaced video's, so re-indexing an id keeps its creation time."""
    now = now_iso()
    text: dict[str, Any] = {}
    if video.text is not None:
        text = {
            F_TEXT_VERSION: int(video.text.model_version),
            P_TEXT_LOCAL: encode_matrix(video.text.local),
            P_TEXT_FRAMES: encode_matrix(video.text.frames),
        }
    tag: dict[str, Any] = {}
    if video.tag_feature is not None:
        tag = {
            P_TAG_FEATURE: np.asarray(video.tag_feature.vector, dtype=np.float32).tolist(),
            P_TAG_FEATURE_VERSION: int(video.tag_feature.model_version),
        }
        if video.tag_feature.scenes is not None:
            tag[P_TAG_SCENES] = encode_matrix(video.tag_feature.scenes)
    caption: dict[str, Any] = {}
    if video.caption is not None:
        caption = {F_CAPTION: video.caption.text,
                   F_CAPTION_VERSION: int(video.caption.model_version)}
        if video.caption.vector is not None:
            caption[F_SENTENCE_VERSION] = int(video.caption.vector_version)
    return {
        **text,
        **tag,
        **caption,
        F_VIDEO_ID: video.video_id,
        "title": video.title,
        F_TAGS: list(video.tags),
        "duration_s": float(video.duration_s),
        "source": video.source,
        F_MODEL_VERSION: int(video.model_version),
        F_CONTENT_SHA256: video.content_sha256,
        "keyframe_count": len(video.keyframes),
        "indexed_at": now,
        "created_at": created_at or now,
        "updated_at": now,
        F_TITLE_PREFIXES: title_prefixes(video.title),
        F_GENERATION: generation,
    }


def keyframe_points(
    video: VideoRecord, generation: int
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(id, vectors, payload) of every key frame of ``video`` for one generation."""
    out = []
    for i, frame in enumerate(video.keyframes):
        vectors = {
            VEC_HASH: np.asarray(frame.hash_bits, dtype=np.float32).tolist(),
            VEC_TEXTURE: np.asarray(frame.texture, dtype=np.float32).tolist(),
        }
        payload = {
            F_VIDEO_ID: video.video_id,
            F_TIME_S: float(frame.time_s),
            F_GENERATION: generation,
        }
        out.append((keyframe_point_id(video.video_id, generation, i), vectors, payload))
    return out


def info_from_payload(payload: Mapping[str, Any]) -> VideoInfo:
    return VideoInfo(
        video_id=str(payload[F_VIDEO_ID]),
        duration_s=float(payload.get("duration_s", 0.0)),
        model_version=int(payload.get(F_MODEL_VERSION, 0)),
        keyframe_count=int(payload.get("keyframe_count", 0)),
        title=str(payload.get("title", "")),
        tags=tuple(str(t) for t in payload.get(F_TAGS) or ()),
        source=str(payload.get("source", "")),
        content_sha256=str(payload.get(F_CONTENT_SHA256, "")),
        text_model_version=int(payload.get(F_TEXT_VERSION, 0)),
        # Videos stored before these fields existed: their indexing time stands in.
        created_at=str(payload.get("created_at") or payload.get("indexed_at") or ""),
        updated_at=str(payload.get("updated_at") or payload.get("indexed_at") or ""),
        caption=str(payload.get(F_CAPTION, "")),
        caption_model_version=int(payload.get(F_CAPTION_VERSION, 0)),
    )


def hamming(stored: Iterable[float], query: np.ndarray) -> int:
    """Exact Hamming distance between a stored ±1 code and a ±1 query code."""
    return int(np.count_nonzero((np.asarray(stored, dtype=np.float32) > 0) != (query > 0)))


def score_threshold(max_hamming: int | None) -> float | None:
    """Dot score threshold keeping codes within ``max_hamming`` (None: no threshold)."""
    if max_hamming is None:
        return None
    if not 0 <= max_hamming <= HASH_BITS:
        raise ValueError(f"max_hamming must be in [0, {HASH_BITS}], got {max_hamming}")
    return hamming_to_score_threshold(max_hamming)


def check_limits(*limits: int) -> None:
    if any(n < 1 for n in limits):
        raise ValueError(f"limits must be >= 1, got {limits}")
