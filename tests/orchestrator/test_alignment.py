"""Alignment and normalisation on hand-made similarity matrices."""

from __future__ import annotations

import numpy as np
import pytest

from vidsearch.orchestrator.alignment import align_matrix, motion_agreement, normalise, with_motion


def _noise(tq: int, tr: int, seed: int = 0, scale: float = 0.05) -> np.ndarray:
    """Normalised similarities of unrelated frames: centred below zero, small."""
    rng = np.random.default_rng(seed)
    return (rng.normal(-0.1, scale, size=(tq, tr))).astype(np.float32)


def _times(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64)


def test_constant_offset_is_one_segment_at_its_offset() -> None:
    # Query seconds 2..8 copy reference seconds 12..18 (offset +10).
    sim = _noise(12, 25)
    for q in range(2, 9):
        sim[q, q + 10] = 0.4
    result = align_matrix(sim, _times(12), _times(25))
    assert len(result.segments) == 1
    seg = result.segments[0]
    assert (seg.query_start_s, seg.query_end_s) == (2.0, 9.0)
    assert (seg.reference_start_s, seg.reference_end_s) == (12.0, 19.0)
    assert seg.slope == 1.0 and seg.frames == 7
    assert seg.score == pytest.approx(7 * 0.4, abs=1e-5)
    assert result.score == result.total == pytest.approx(7 * 0.4, abs=1e-5)
    assert result.matched_query_s == 7.0


def test_speed_change_is_a_line_of_another_slope() -> None:
    # The query plays the reference at double speed: query second q shows reference 2q + 3.
    sim = _noise(10, 30, seed=1)
    for q in range(0, 10):
        sim[q, 2 * q + 3] = 0.3
    result = align_matrix(sim, _times(10), _times(30))
    assert len(result.segments) == 1
    seg = result.segments[0]
    assert seg.slope == 2.0
    assert seg.frames == 10
    assert (seg.reference_start_s, seg.reference_end_s) == (3.0, 22.0)
    # Slope 1 alone would see only scattered cells, never one 10-frame run.
    flat = align_matrix(sim, _times(10), _times(30), slopes=(1.0,))
    assert flat.score < 0.5 * result.score


def test_slowed_copy_with_half_speed() -> None:
    # Half speed: query second q shows reference 0.5 q + 4 (two query frames per ref second).
    sim = _noise(16, 20, seed=2)
    for q in range(16):
        sim[q, int(0.5 * q) + 4] = 0.35
    result = align_matrix(sim, _times(16), _times(20))
    assert [s.slope for s in result.segments] == [0.5]
    assert result.segments[0].frames == 16


def test_two_separate_segments_at_two_offsets() -> None:
    sim = _noise(30, 40, seed=3)
    for q in range(2, 8):  # offset +20
        sim[q, q + 20] = 0.5
    for q in range(18, 26):  # offset -15
        sim[q, q - 15] = 0.3
    result = align_matrix(sim, _times(30), _times(40))
    assert len(result.segments) == 2
    first, second = result.segments  # ordered by query time
    assert (first.query_start_s, first.query_end_s) == (2.0, 8.0)
    assert (first.reference_start_s, first.reference_end_s) == (22.0, 28.0)
    assert (second.query_start_s, second.query_end_s) == (18.0, 26.0)
    assert (second.reference_start_s, second.reference_end_s) == (3.0, 11.0)
    assert first.score == pytest.approx(6 * 0.5, abs=1e-4)
    assert second.score == pytest.approx(8 * 0.3, abs=1e-4)
    assert result.score == pytest.approx(6 * 0.5, abs=1e-4)  # the best segment
    assert result.total == pytest.approx(6 * 0.5 + 8 * 0.3, abs=1e-4)


def test_noise_only_gives_no_segment_and_a_low_score() -> None:
    scores = []
    for seed in range(20):
        result = align_matrix(_noise(15, 15, seed=10 + seed), _times(15), _times(15))
        assert all(s.frames >= 3 for s in result.segments)
        scores.append(result.score)
    copy = _noise(15, 15, seed=99)
    for q in range(5):
        copy[q, q] = 0.25
    copied = align_matrix(copy, _times(15), _times(15)).score
    assert max(scores) < 0.1 * copied
    assert sum(score == 0.0 for score in scores) >= 15  # most noise matrices: nothing
    # Entirely negative (the usual after normalisation): nothing at all.
    assert align_matrix(_noise(15, 15, scale=0.01), _times(15), _times(15)).segments == ()
    assert align_matrix(_noise(15, 15, scale=0.01), _times(15), _times(15)).score == 0.0


def test_gap_splits_a_line_and_short_runs_are_dropped() -> None:
    sim = _noise(20, 20, seed=4, scale=0.01)
    for q in (0, 1, 2, 3, 10, 11, 12, 17, 18):  # 17-18: two frames are not a segment
        sim[q, q] = 0.5
    result = align_matrix(sim, _times(20), _times(20), max_gap_s=3.0, min_frames=3)
    assert [(s.query_start_s, s.query_end_s) for s in result.segments] == [(0.0, 4.0), (10.0, 13.0)]


def test_shape_mismatch_is_refused_and_empty_is_no_match() -> None:
    with pytest.raises(ValueError):
        align_matrix(np.zeros((3, 4)), _times(3), _times(5))
    assert align_matrix(np.zeros((0, 4)), _times(0), _times(4)).segments == ()


def test_normalise_subtracts_each_query_frames_background_similarity() -> None:
    # By hand: row 0 - 0.4, row 1 - 0.7.
    sim = np.array([[0.9, 0.3], [0.5, 0.6]], np.float32)
    out = normalise(sim, np.array([0.4, 0.7]))
    np.testing.assert_allclose(out, [[0.5, -0.1], [-0.2, -0.1]], atol=1e-6)
    # Symmetric: also column 0 - 0.1, column 1 - 0.2; beta halves every bias.
    sym = normalise(sim, np.array([0.4, 0.7]), np.array([0.1, 0.2]), beta=0.5)
    np.testing.assert_allclose(sym, [[0.65, 0.0], [0.1, 0.15]], atol=1e-6)
    # No background for a frame (NaN): that row is left as it was; the input is untouched.
    part = normalise(sim, np.array([np.nan, 0.5]))
    np.testing.assert_allclose(part, [[0.9, 0.3], [0.0, 0.1]], atol=1e-6)
    assert sim[0, 0] == pytest.approx(0.9)
    np.testing.assert_allclose(normalise(sim, None), sim)


def _static_camera(times: np.ndarray, walker: np.ndarray, seed: int) -> np.ndarray:
    """Unit descriptors of a static scene (one strong background direction) with a small
    part that changes: a walker whose position over time is ``walker`` (one direction per
    position), plus a little sensor noise."""
    rng = np.random.default_rng(seed)
    dim = 64
    background = np.zeros(dim)
    background[0] = 1.0
    frames = []
    for t in times:
        pos = np.zeros(dim)
        pos[1 + int(walker[int(t)]) % 40] = 0.25
        frames.append(background + pos + rng.normal(0, 0.01, dim))
    out = np.asarray(frames)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_motion_tells_a_copy_from_another_stretch_of_the_same_static_camera() -> None:
    # Both queries match the reference frame by frame about equally (same background); only
    # the copy's walker moves like the reference's.
    rng = np.random.default_rng(3)
    walk_ref = rng.integers(0, 40, 12)
    walk_other = rng.integers(0, 40, 12)
    times = _times(12)
    reference = _static_camera(times, walk_ref, seed=1)
    copy = _static_camera(times, walk_ref, seed=2)
    other = _static_camera(times, walk_other, seed=4)
    aligned = {}
    for name, query in (("copy", copy), ("other", other)):
        sim = query @ reference.T - 0.8  # as if normalised: a background frame sits at 0.8
        plain = align_matrix(sim, times, times)
        moved = with_motion(plain, query, reference, weight=3.0)
        aligned[name] = (plain, moved)
        assert plain.segments and all(len(s.rows) == s.frames for s in plain.segments)
    seg = max(aligned["copy"][0].segments, key=lambda s: s.score)
    assert motion_agreement(copy, reference, seg) > 0.8
    seg = max(aligned["other"][0].segments, key=lambda s: s.score)
    assert abs(motion_agreement(other, reference, seg)) < 0.3
    # Appearance alone barely separates them; with motion the copy wins clearly.
    copy_plain, copy_moved = aligned["copy"]
    other_plain, other_moved = aligned["other"]
    assert copy_plain.score < 1.5 * other_plain.score
    assert copy_moved.score > 2.5 * other_moved.score
    assert copy_moved.score > 2.5 * copy_plain.score  # 1 + 3 x 0.9 x 11 / 15


def test_motion_weight_zero_changes_nothing() -> None:
    sim = _noise(12, 12)
    for q in range(2, 9):
        sim[q, q] = 0.4
    found = align_matrix(sim, _times(12), _times(12))
    desc = np.eye(12, 16)
    assert with_motion(found, desc, desc, weight=0.0) == found
    assert with_motion(align_matrix(_noise(5, 5, scale=0.01), _times(5), _times(5)), desc[:5],
                       desc[:5], weight=0.3).segments == ()
