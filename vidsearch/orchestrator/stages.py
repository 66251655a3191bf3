"""Search stages: small objects with a ``name`` (the metric label) and ``__call__(ctx)``.

Pipelines are lists of these, built from the request's mode, so a deployment can swap the
rerank without touching the service. No stage knows about gRPC. ``resource`` names the
stage limit a stage runs under (``admission``); the request's budget (deadline and
cancellation) rides in the context and reaches the decoder, inference and catalog calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from vidsearch.catalog.base import Catalog, KeyFrameHit, VideoCandidate
from vidsearch.deadline import RequestBudget
from vidsearch.orchestrator.api import SearchHit, SearchMode
from vidsearch.orchestrator.encoding import DecodedFrames, EncodedVideo, FrameDecoder, VideoEncoder
from vidsearch.orchestrator.matching import VideoMatch, align, group_hits, repetition_degree


@dataclass(frozen=True)
class ResolvedOptions:
    """Request options with every default filled in from config."""

    mode: SearchMode
    top_k: int
    max_hamming: int
    coarse_limit: int
    keyframe_limit: int
    max_texture_distance: float | None
    min_repetition: float
    model_version: int | None
    timeout_s: float | None = None


@dataclass
class SearchContext:
    """What flows through a search pipeline; each stage fills in its part."""

    path: Path
    options: ResolvedOptions
    budget: RequestBudget = field(default_factory=RequestBudget.unlimited)
    decoded: DecodedFrames | None = None
    encoded: EncodedVideo | None = None
    candidates: dict[str, VideoCandidate] = field(default_factory=dict)
    keyframe_hits: list[list[KeyFrameHit]] = field(default_factory=list)
    matches: dict[str, VideoMatch] = field(default_factory=dict)
    hits: list[SearchHit] = field(default_factory=list)

    def require_encoded(self) -> EncodedVideo:
        if self.encoded is None:
            raise RuntimeError("pipeline misconfigured: encode stage must run first")
        return self.encoded


class Stage(Protocol):
    name: str

    @property
    def resource(self) -> str | None:
        """The stage limit it holds while running (None: not limited)."""
        ...

    def __call__(self, ctx: SearchContext) -> None: ...


class DecodeStage:
    name = "decode"
    resource = "decode"

    def __init__(self, decoder: FrameDecoder) -> None:
        self._decoder = decoder

    def __call__(self, ctx: SearchContext) -> None:
        ctx.decoded = self._decoder(ctx.path, budget=ctx.budget)


class EncodeStage:
    name = "encode"
    resource = "encode"

    def __init__(self, encoder: VideoEncoder) -> None:
        self._encoder = encoder

    def __call__(self, ctx: SearchContext) -> None:
        if ctx.decoded is None:
            raise RuntimeError("pipeline misconfigured: decode stage must run first")
        ctx.encoded = self._encoder(
            ctx.decoded,
            version=ctx.options.model_version,
            timeout_s=ctx.options.timeout_s,
            budget=ctx.budget,
        )


class HashCoarseFilter:
    """Whole-video codes within the Hamming threshold (top-N), ordered by texture in Qdrant.

    The coarse filter and the texture ordering run as ONE server-side query (a prefetch on
    ``hash`` feeding a nearest query on ``texture``), so the catalog does not ship the
    coarse candidates back just to sort them.
    """

    name = "hash_coarse_filter"
    resource = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, ctx: SearchContext) -> None:
        encoded = ctx.require_encoded()
        found = self._catalog.search_videos(
            encoded.video_bits,
            encoded.video_texture,
            max_hamming=ctx.options.max_hamming,
            coarse_limit=ctx.options.coarse_limit,
            limit=ctx.options.coarse_limit,
            max_texture_distance=ctx.options.max_texture_distance,
            budget=ctx.budget,
        )
        ctx.candidates = {c.info.video_id: c for c in found}


class KeyframeCoarseFilter:
    """Per query key frame (one per sampled second), indexed key frames within the threshold."""

    name = "keyframe_coarse_filter"
    resource = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, ctx: SearchContext) -> None:
        encoded = ctx.require_encoded()
        ctx.keyframe_hits = self._catalog.search_keyframes(
            encoded.keyframe_bits,
            encoded.keyframe_texture,
            max_hamming=ctx.options.max_hamming,
            limit_per_frame=ctx.options.keyframe_limit,
            budget=ctx.budget,
        )


class SegmentMatcher:
    """Align key-frame hits per reference into matched segments.

    Mode 2 ("duration") judges key frames by texture distance (under
    ``max_texture_distance`` when set); mode 3 ("keyframe") by near codes alone. Mode 1
    uses this only to attach segments to the whole-video candidates it ranked.
    """

    name = "segment_match"
    resource = None

    def __init__(self, frame_step_s: float) -> None:
        self._step = frame_step_s

    def __call__(self, ctx: SearchContext) -> None:
        encoded = ctx.require_encoded()
        mode = ctx.options.mode
        grouped = group_hits(
            encoded.times_s.tolist(),
            ctx.keyframe_hits,
            keep=ctx.candidates.keys() if mode == "texture" else None,
            max_texture_distance=ctx.options.max_texture_distance if mode == "duration" else None,
        )
        by: Literal["hash", "texture"] = "texture" if mode == "duration" else "hash"
        ctx.matches = {
            video_id: align(video_id, matches, frame_step_s=self._step, by=by)
            for video_id, matches in grouped.items()
        }


class RepetitionRanker:
    """Modes 2 and 3: repetition degree = matched duration / shorter duration, thresholded;
    score = repetition degree x mean similarity of the matched seconds."""

    name = "repetition_rank"
    resource = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, ctx: SearchContext) -> None:
        encoded = ctx.require_encoded()
        hits: list[SearchHit] = []
        for video_id, match in ctx.matches.items():
            ctx.budget.check("reading the matched videos")
            info = self._catalog.get_video(video_id)
            if info is None:  # deleted between the two queries
                continue
            repetition = repetition_degree(
                match.matched_seconds, encoded.duration_s, info.duration_s
            )
            if repetition < ctx.options.min_repetition:
                continue
            candidate = ctx.candidates.get(video_id)
            best = min(match.matches, key=lambda m: m.hamming)
            hits.append(
                SearchHit(
                    video=info,
                    score=repetition * match.similarity,
                    hamming=candidate.hamming if candidate else best.hamming,
                    texture_distance=(
                        candidate.texture_distance if candidate else best.texture_distance
                    ),
                    repetition=repetition,
                    segments=match.segments,
                )
            )
        hits.sort(key=lambda h: (-h.score, h.video.video_id))
        ctx.hits = hits[: ctx.options.top_k]


class TextureRerank:
    """Mode 1: nearest by texture distance among the coarse candidates (already ordered)."""

    name = "texture_rerank"
    resource = None

    def __call__(self, ctx: SearchContext) -> None:
        encoded = ctx.require_encoded()
        ranked = sorted(ctx.candidates.values(), key=lambda c: c.texture_distance)
        hits = []
        for candidate in ranked[: ctx.options.top_k]:
            match = ctx.matches.get(candidate.info.video_id)
            repetition = (
                repetition_degree(
                    match.matched_seconds, encoded.duration_s, candidate.info.duration_s
                )
                if match
                else 0.0
            )
            hits.append(
                SearchHit(
                    video=candidate.info,
                    score=1.0 / (1.0 + candidate.texture_distance),
                    hamming=candidate.hamming,
                    texture_distance=candidate.texture_distance,
                    repetition=repetition,
                    segments=match.segments if match else (),
                )
            )
        ctx.hits = hits


def build_search_pipeline(
    mode: SearchMode, decoder: FrameDecoder, encoder: VideoEncoder, catalog: Catalog, step_s: float
) -> list[Stage]:
    """The stage list for one seed 001 retrieval mode."""
    head: list[Stage] = [DecodeStage(decoder), EncodeStage(encoder)]
    keyframes: list[Stage] = [KeyframeCoarseFilter(catalog), SegmentMatcher(step_s)]
    if mode == "texture":
        return [*head, HashCoarseFilter(catalog), *keyframes, TextureRerank()]
    return [*head, *keyframes, RepetitionRanker(catalog)]
