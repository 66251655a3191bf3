"""The perceptual-hash baseline on generated frames."""

from __future__ import annotations

import numpy as np

from vidsearch.evaluation.phash import PerceptualHashIndex, hamming64, phash_frames
from vidsearch.media.synthetic import render_video


def test_hamming64_counts_differing_bits() -> None:
    a = np.array([0b1011, 0], dtype=np.uint64)
    b = np.array([0b0001, np.iinfo(np.uint64).max], dtype=np.uint64)
    assert hamming64(a, b).tolist() == [[2, 61], [1, 64]]  # 64 - popcount(0b1011)


def test_phash_is_stable_under_mild_noise_and_differs_across_videos() -> None:
    frames = render_video(3, 4.0, fps=1.0, width=96, height=72)
    noisy = np.clip(frames + np.random.default_rng(0).normal(0, 4, frames.shape), 0, 255)
    other = render_video(4, 4.0, fps=1.0, width=96, height=72)
    same = np.diag(hamming64(phash_frames(frames), phash_frames(noisy.astype(np.uint8))))
    different = np.diag(hamming64(phash_frames(frames), phash_frames(other)))
    assert same.max() <= 10
    assert different.mean() > 20


def test_index_finds_the_copied_segment_with_its_offset() -> None:
    ref = render_video(11, 12.0, fps=1.0, width=96, height=72)
    distractor = render_video(12, 12.0, fps=1.0, width=96, height=72)
    index = PerceptualHashIndex()
    times = np.arange(12, dtype=np.float64)
    index.add("ref", phash_frames(ref), times)
    index.add("other", phash_frames(distractor), times)
    query = ref[4:9]  # seconds 4..8 of the reference
    found = index.search(phash_frames(query), np.arange(5, dtype=np.float64))
    assert found[0][0] == "ref"
    _, score, q_seg, r_seg = found[0]
    assert score > 0.9
    assert q_seg == (0.0, 5.0)
    assert r_seg == (4.0, 9.0)
