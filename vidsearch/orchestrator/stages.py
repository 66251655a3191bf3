"""The search-by-video stages and the pipelines they make, one per search mode.

Near-duplicate search (``texture``): whole-video hash filter, texture order. Duration
matching (``duration``): key-frame hits aligned into matched segments, ranked by how
much of the shorter video repeats (or, with ``alignment``, by similarity-matrix
alignment). Key-frame matching (``keyframe``): the same by near key-frame codes alone.
``pipeline.PipelineRunner`` runs them; the request's budget rides in the context and
reaches the decoder, inference and catalog calls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from vidsearch.catalog.base import Catalog, KeyFrameHit, VideoCandidate, VideoFilter, VideoInfo
from vidsearch.deadline import RequestBudget
from vidsearch.orchestrator.alignment import Alignment, align_matrix, normalise, with_motion
from vidsearch.orchestrator.api import MatchedSegment, SearchHit, SearchMode
from vidsearch.orchestrator.encoding import DecodedFrames, EncodedVideo, FrameDecoder, VideoEncoder
from vidsearch.orchestrator.matching import VideoMatch, align, group_hits, repetition_degree
from vidsearch.orchestrator.pipeline import Stage
from vidsearch.orchestrator.query_views import split_views

log = logging.getLogger(__name__)


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
    # Mode duration with alignment (see SearchConfig for each switch).
    alignment: bool = False
    rerank_candidates: int = 20
    normalise: bool = True
    normalise_k: int = 10
    query_views: tuple[str, ...] = ()  # view names (query_views.view_names)
    view_penalty: float = 0.0
    motion_weight: float = 0.0
    min_similarity: float = 0.0
    raw_min_similarity: float = 0.8
    min_score: float = 0.8
    raw_min_score: float = 0.5
    only: VideoFilter | None = None  # only videos passing this filter are found


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
    # Alignment path: hits of each query view's rows, the candidates chosen from all,
    # their stored key frames and metadata, and each query frame's background bias.
    view_keyframe_hits: list[list[list[KeyFrameHit]]] = field(default_factory=list)
    candidate_ids: list[str] = field(default_factory=list)
    reference_frames: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    candidate_infos: dict[str, VideoInfo] = field(default_factory=dict)
    query_bias: np.ndarray | None = None  # [T] (original rows) or None: not normalised
    view_bias: list[np.ndarray] = field(default_factory=list)  # per view, when normalised

    def require_encoded(self) -> EncodedVideo:
        if self.encoded is None:
            raise RuntimeError("pipeline misconfigured: encode stage must run first")
        return self.encoded


class DecodeInput(Protocol):
    """A context with a video file to decode (a search's query, or a video to index)."""

    path: Path
    budget: RequestBudget
    decoded: DecodedFrames | None


class DecodeStage:
    """Sampled frames of the file, under the media limits (shared by index and search)."""

    name = "decode"
    resource = "decode"

    def __init__(self, decoder: FrameDecoder) -> None:
        self._decoder = decoder

    def __call__(self, ctx: DecodeInput) -> None:
        ctx.decoded = self._decoder(ctx.path, budget=ctx.budget)


class EncodeStage:
    """The query's codes and textures (and those of its views, for alignment)."""

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
            views=ctx.options.query_views
            if ctx.options.mode == "duration" and ctx.options.alignment else (),
        )


class HashCoarseFilter:
    """Near-duplicate search: whole-video codes within the Hamming threshold (top-N),
    ordered by texture in Qdrant.

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
            only=ctx.options.only,
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
        # one batch: each view's rows after the original ones
        bits = np.concatenate([encoded.keyframe_bits, *(v.bits for v in encoded.views)])
        texture = np.concatenate(
            [encoded.keyframe_texture, *(v.texture for v in encoded.views)]
        )
        rows = self._catalog.search_keyframes(
            bits,
            texture,
            max_hamming=ctx.options.max_hamming,
            limit_per_frame=ctx.options.keyframe_limit,
            budget=ctx.budget,
            only=ctx.options.only,
        )
        n = len(encoded.keyframe_bits)
        ctx.keyframe_hits = rows[:n]
        ctx.view_keyframe_hits = split_views(rows, n, len(encoded.views))


class SegmentMatcher:
    """Align key-frame hits per reference into matched segments.

    Duration matching judges key frames by texture distance (under
    ``max_texture_distance`` when set); key-frame matching by near codes alone.
    Near-duplicate search uses this only to attach segments to the whole-video
    candidates it ranked.
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
    """Duration and key-frame matching: repetition degree = matched duration / shorter
    duration, thresholded; score = repetition degree x mean similarity of the matched
    seconds. The candidates' metadata comes in one catalog call."""

    name = "repetition_rank"
    resource = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, ctx: SearchContext) -> None:
        encoded = ctx.require_encoded()
        infos = self._catalog.get_videos(list(ctx.matches), budget=ctx.budget)
        hits: list[SearchHit] = []
        for video_id, match in ctx.matches.items():
            info = infos.get(video_id)
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
    """Near-duplicate search: nearest by texture distance among the coarse candidates."""

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


class CandidateSelect:
    """Alignment path: the ``rerank_candidates`` videos with the most coarse evidence
    (distinct query key frames, in any view, with a hit; then the nearer textures)."""

    name = "candidate_select"
    resource = None

    def __call__(self, ctx: SearchContext) -> None:
        frames: dict[str, set[int]] = defaultdict(set)
        nearness: dict[str, float] = defaultdict(float)
        for rows in (ctx.keyframe_hits, *ctx.view_keyframe_hits):
            for i, hits in enumerate(rows):
                best: dict[str, float] = {}
                for hit in hits:
                    sim = 1.0 - hit.texture_distance / 2.0
                    best[hit.video_id] = max(best.get(hit.video_id, -1.0), sim)
                for video_id, sim in best.items():
                    frames[video_id].add(i)
                    nearness[video_id] += sim
        ranked = sorted(frames, key=lambda v: (-len(frames[v]), -nearness[v], v))
        ctx.candidate_ids = ranked[: ctx.options.rerank_candidates]


class CandidateFrames:
    """Alignment path: every committed key frame (time, texture) and the metadata of the
    candidates, for their full similarity matrices."""

    name = "candidate_keyframes"
    resource = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, ctx: SearchContext) -> None:
        if not ctx.candidate_ids:
            return
        ctx.reference_frames = self._catalog.keyframe_vectors(ctx.candidate_ids, budget=ctx.budget)
        infos = self._catalog.get_videos(ctx.candidate_ids, budget=ctx.budget)
        ctx.candidate_infos = {
            video_id: infos[video_id]
            for video_id in ctx.candidate_ids
            if video_id in infos and video_id in ctx.reference_frames
        }


class Background:
    """The background catalog (videos never indexed) and whether it can normalise a query:
    it needs at least k key frames, all from the query's model version (codes of other
    versions live in other spaces). Its stats are re-read at most every ``recheck_s``; a
    background that cannot normalise is logged once per reason (searches then run
    unnormalised)."""

    def __init__(self, catalog: Catalog | None, recheck_s: float = 30.0) -> None:
        self.catalog = catalog
        self._recheck_s = recheck_s
        self._frames = 0
        self._versions: tuple[int, ...] = ()
        self._checked = -float("inf")
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def usable(self, k: int, model_version: int) -> Catalog | None:
        with self._lock:
            now = time.monotonic()
            if self.catalog is not None and now - self._checked > self._recheck_s:
                stats = self.catalog.stats()
                self._frames, self._versions = stats.keyframes, stats.model_versions
                self._checked = now
            if self.catalog is None or self._frames < k:
                reason = (
                    f"{'absent' if self.catalog is None else 'too small'} ({self._frames} key "
                    f"frames, normalisation needs k={k})"
                )
            elif self._versions != (model_version,):
                reason = (
                    f"from model version(s) {list(self._versions)} but the query uses "
                    f"{model_version}"
                )
            else:
                return self.catalog
            if reason not in self._warned:
                self._warned.add(reason)
                log.warning(
                    "the background catalog is %s: searches run without score normalisation; "
                    "fill it with `vidsearch catalog background --videos N`", reason,
                )
            return None


class BackgroundBias:
    """Alignment path: each query frame's similarity to its k-th nearest background key
    frame (every view in one batch), the normalisation bias."""

    name = "background_bias"
    resource = "catalog"

    def __init__(self, background: Background) -> None:
        self._background = background

    def __call__(self, ctx: SearchContext) -> None:
        if not ctx.options.normalise or not ctx.candidate_ids:
            return
        encoded = ctx.require_encoded()
        catalog = self._background.usable(ctx.options.normalise_k, encoded.model_version)
        if catalog is None:
            return
        texture = np.concatenate(
            [encoded.keyframe_texture, *(v.texture for v in encoded.views)]
        )
        bias = catalog.kth_neighbour_similarity(texture, ctx.options.normalise_k, budget=ctx.budget)
        n = len(encoded.keyframe_texture)
        ctx.query_bias = bias[:n]
        ctx.view_bias = split_views(bias, n, len(encoded.views))


class AlignmentRanker:
    """Alignment path: per candidate, similarity matrix (query x reference key frames,
    cosine of the unit copy descriptors) -> background normalisation -> Hough alignment
    (``alignment.align_matrix``); the best query view counts, a view other than the
    original frames less ``view_penalty``. Score: the alignment score (the best segment's
    sum of normalised similarity along its line, scaled by 1 + ``motion_weight`` x how
    alike the two videos change along it: ``alignment.with_motion``), so one threshold
    means the same for every query. Hits need a segment scoring at least
    ``min_score`` (``raw_min_score`` unnormalised) and ``min_repetition`` (matched query
    seconds / shorter duration)."""

    name = "align"
    resource = None

    def __init__(self, frame_step_s: float) -> None:
        self._step = frame_step_s

    def __call__(self, ctx: SearchContext) -> None:
        encoded = ctx.require_encoded()
        opts = ctx.options
        normalised = ctx.query_bias is not None
        floor = opts.min_similarity if normalised else opts.raw_min_similarity
        min_score = opts.min_score if normalised else opts.raw_min_score
        # measured on normalised scores only; raw cosines sit on another scale
        motion = opts.motion_weight if normalised else 0.0
        views: list[tuple[np.ndarray, np.ndarray | None, float]] = [
            (encoded.keyframe_texture, ctx.query_bias, 0.0)
        ]
        for i, view in enumerate(encoded.views):
            bias = ctx.view_bias[i] if normalised else None
            views.append((view.texture, bias, opts.view_penalty))
        best_hits = _best_hits(ctx.keyframe_hits, *ctx.view_keyframe_hits)
        hits: list[SearchHit] = []
        for video_id, info in ctx.candidate_infos.items():
            ctx.budget.check("aligning the candidates")
            ref_times, ref_texture = ctx.reference_frames[video_id]
            result: Alignment | None = None
            score, chosen, chosen_penalty = 0.0, encoded.keyframe_texture, 0.0
            for query_texture, bias, penalty in views:
                sim = query_texture @ ref_texture.T
                if normalised:
                    sim = normalise(sim, bias)
                found = align_matrix(
                    sim, encoded.times_s, ref_times, step_s=self._step, min_similarity=floor
                )
                if found.segments and (result is None or found.score - penalty > score):
                    result, score = found, found.score - penalty
                    chosen, chosen_penalty = query_texture, penalty
            if result is None:
                continue
            # The view is chosen by appearance; motion then confirms or discounts it once
            # (scoring every view's motion would pick the luckiest of nine noisy factors).
            result = with_motion(result, chosen, ref_texture, motion)
            score = result.score - chosen_penalty
            if score < min_score:
                continue
            repetition = repetition_degree(
                result.matched_query_s, encoded.duration_s, info.duration_s
            )
            if repetition < opts.min_repetition:
                continue
            hamming, distance = best_hits.get(video_id, (0, 0.0))
            hits.append(
                SearchHit(
                    video=info,
                    score=score,
                    hamming=hamming,
                    texture_distance=distance,
                    repetition=repetition,
                    segments=tuple(
                        MatchedSegment(
                            query_start_s=s.query_start_s,
                            query_end_s=s.query_end_s,
                            reference_start_s=s.reference_start_s,
                            reference_end_s=s.reference_end_s,
                            score=s.score,
                        )
                        for s in result.segments
                    ),
                )
            )
        hits.sort(key=lambda h: (-h.score, h.video.video_id))
        ctx.hits = hits[: opts.top_k]


def _best_hits(*rows: list[list[KeyFrameHit]]) -> dict[str, tuple[int, float]]:
    """Per video, the nearest code and texture among its coarse key-frame hits."""
    best: dict[str, tuple[int, float]] = {}
    for row in rows:
        for hits in row:
            for hit in hits:
                old = best.get(hit.video_id)
                if old is None:
                    best[hit.video_id] = (hit.hamming, hit.texture_distance)
                else:
                    best[hit.video_id] = (
                        min(old[0], hit.hamming), min(old[1], hit.texture_distance)
                    )
    return best


def build_search_pipeline(
    mode: SearchMode,
    decoder: FrameDecoder,
    encoder: VideoEncoder,
    catalog: Catalog,
    step_s: float,
    *,
    alignment: bool = False,
    background: Background | None = None,
) -> list[Stage[SearchContext]]:
    """The stage list for one search mode (``alignment``: duration matching by
    similarity-matrix alignment, normalised against ``background``)."""
    head: list[Stage[SearchContext]] = [DecodeStage(decoder), EncodeStage(encoder)]
    if mode == "duration" and alignment:
        return [
            *head,
            KeyframeCoarseFilter(catalog),
            CandidateSelect(),
            CandidateFrames(catalog),
            BackgroundBias(background or Background(None)),
            AlignmentRanker(step_s),
        ]
    keyframes: list[Stage[SearchContext]] = [KeyframeCoarseFilter(catalog), SegmentMatcher(step_s)]
    if mode == "texture":
        return [*head, HashCoarseFilter(catalog), *keyframes, TextureRerank()]
    return [*head, *keyframes, RepetitionRanker(catalog)]
