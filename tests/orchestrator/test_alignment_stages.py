"""The alignment path's stages on hand-made contexts: candidate choice and orientation."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from vidsearch.catalog.base import CatalogStats, KeyFrameHit, VideoInfo
from vidsearch.orchestrator.encoding import EncodedVideo, EncodedView
from vidsearch.orchestrator.stages import (
    AlignmentRanker,
    Background,
    CandidateSelect,
    ResolvedOptions,
    SearchContext,
)


def _options(**kw: object) -> ResolvedOptions:
    base: dict = dict(mode="duration", top_k=10, max_hamming=24, coarse_limit=100,
                      keyframe_limit=50, max_texture_distance=None, min_repetition=0.3,
                      model_version=None, alignment=True, rerank_candidates=2,
                      min_score=0.5, raw_min_similarity=0.8, raw_min_score=0.5)
    return ResolvedOptions(**(base | kw))


def _unit_rows(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, 16)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _encoded(texture: np.ndarray, flipped: np.ndarray | None) -> EncodedVideo:
    n = len(texture)
    bits = np.ones((n, 128), np.float32)
    views = () if flipped is None else (EncodedView("flip", bits, flipped),)
    return EncodedVideo(bits, texture, bits[0], texture[0], np.arange(n, dtype=np.float64),
                        float(n), 1, views=views)


def test_candidates_are_the_videos_with_most_query_frames_hit() -> None:
    ctx = SearchContext(path=Path("q.mp4"), options=_options(rerank_candidates=2))
    hit = lambda v, d=0.1: KeyFrameHit(v, 0.0, 3, d)  # noqa: E731
    ctx.keyframe_hits = [[hit("a"), hit("b"), hit("a")], [hit("b")], [hit("c", 0.01)]]
    ctx.view_keyframe_hits = [[[], [hit("c", 0.01)], [hit("b")]]]
    CandidateSelect()(ctx)
    # b: frames {0,1,2}; c: {1,2} nearer; a: {0} (two hits on one frame count once).
    assert ctx.candidate_ids == ["b", "c"]


def test_mirrored_copy_is_found_only_with_the_flipped_view() -> None:
    query, mirrored = _unit_rows(8, 1), _unit_rows(8, 2)  # what the encoder saw, both ways
    reference = np.concatenate([_unit_rows(4, 3), mirrored, _unit_rows(4, 4)])  # copy at 4..11
    times = np.arange(16, dtype=np.float64)
    info = VideoInfo("ref", 16.0, 1, 16)

    def rank(flipped: np.ndarray | None, penalty: float = 0.0) -> SearchContext:
        ctx = SearchContext(path=Path("q.mp4"), options=_options(view_penalty=penalty))
        ctx.encoded = _encoded(query, flipped)
        ctx.candidate_infos = {"ref": info}
        ctx.reference_frames = {"ref": (times, reference)}
        AlignmentRanker(frame_step_s=1.0)(ctx)
        return ctx

    assert rank(None).hits == []  # unrelated random rows: no cosine near 0.8
    hits = rank(mirrored).hits
    assert [h.video.video_id for h in hits] == ["ref"]
    seg = hits[0].segments[0]
    assert (seg.query_start_s, seg.query_end_s) == (0.0, 8.0)
    assert (seg.reference_start_s, seg.reference_end_s) == (4.0, 12.0)
    assert abs(hits[0].score - 8 * (1.0 - 0.8)) < 1e-4  # raw floor 0.8, cosine 1 per second
    assert hits[0].repetition == 1.0
    # found through a view only: the view penalty comes off, and can sink it under min_score
    assert abs(rank(mirrored, 0.5).hits[0].score - (8 * 0.2 - 0.5)) < 1e-4
    assert rank(mirrored, 1.2).hits == []


def test_normalised_scores_use_each_query_frames_background_bias() -> None:
    query = _unit_rows(6, 5)
    reference = query.copy()  # an exact copy: cosine 1 on the diagonal
    ctx = SearchContext(path=Path("q.mp4"), options=_options(min_score=0.5))
    ctx.encoded = _encoded(query, None)
    ctx.candidate_infos = {"ref": VideoInfo("ref", 6.0, 1, 6)}
    ctx.reference_frames = {"ref": (np.arange(6, dtype=np.float64), reference)}
    ctx.query_bias = np.full(6, 0.75, np.float32)
    AlignmentRanker(frame_step_s=1.0)(ctx)
    assert abs(ctx.hits[0].score - 6 * 0.25) < 1e-4  # (1 - 0.75) per matched second
    ctx.query_bias = np.full(6, 0.95, np.float32)  # 6 x 0.05 = 0.3 < min_score 0.5
    AlignmentRanker(frame_step_s=1.0)(ctx)
    assert ctx.hits == []


class _StatsOnly:
    def __init__(self, keyframes: int, versions: tuple[int, ...]) -> None:
        self.answer = CatalogStats(videos=1, keyframes=keyframes, model_versions=versions)

    def stats(self) -> CatalogStats:
        return self.answer


def test_background_normalises_only_with_enough_frames_of_the_query_version(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = _StatsOnly(keyframes=50, versions=(1,))
    background = Background(fake, recheck_s=0.0)  # type: ignore[arg-type]
    assert background.usable(10, model_version=1) is fake
    with caplog.at_level(logging.WARNING):
        assert background.usable(51, model_version=1) is None  # fewer than k frames
        assert background.usable(10, model_version=2) is None  # another model's space
        assert background.usable(10, model_version=2) is None
    assert caplog.text.count("model version(s) [1] but the query uses 2") == 1
    assert caplog.text.count("too small") == 1
    fake.answer = CatalogStats(videos=2, keyframes=80, model_versions=(1, 2))  # half refilled
    assert background.usable(10, model_version=2) is None
    assert Background(None).usable(1, model_version=1) is None
