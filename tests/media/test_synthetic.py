"""Synthetic videos: seeded, distinct per seed, and they survive an encode/decode trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidsearch.media.decode import decode_video
from vidsearch.media.synthetic import generate_video_file, render_video, write_video


def test_same_seed_same_video() -> None:
    a = render_video(3, 2.0, 8.0, 64, 48)
    assert a.shape == (16, 48, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, render_video(3, 2.0, 8.0, 64, 48))


def test_different_seeds_differ() -> None:
    a = render_video(3, 2.0, 8.0, 64, 48).astype(np.float32)
    b = render_video(4, 2.0, 8.0, 64, 48).astype(np.float32)
    assert np.abs(a - b).mean() > 20


def test_shorter_render_is_a_prefix() -> None:
    np.testing.assert_array_equal(
        render_video(5, 1.0, 8.0, 64, 48), render_video(5, 3.0, 8.0, 64, 48)[:8]
    )


def test_video_moves() -> None:
    v = render_video(6, 2.0, 8.0, 64, 48).astype(np.float32)
    assert np.abs(v[1:] - v[:-1]).mean() > 0.5


def test_write_video_round_trip(tmp_path: Path) -> None:
    """Square frames so the decoder's resize is the identity: only H.264 loss remains."""
    frames = render_video(7, 3.0, 8.0, 48, 48)
    path = write_video(tmp_path / "v.mp4", frames, 8.0)
    video = decode_video(path, fps=8.0, size=48)
    assert video.frames.shape == frames.shape
    err = np.abs(video.frames.astype(np.float32) - frames).mean()
    other = np.abs(video.frames.astype(np.float32) - render_video(8, 3.0, 8.0, 48, 48)).mean()
    assert err < 16 and err < other / 3  # yuv420p + crf 23 at 48 px: ~10 grey levels


def test_low_bit_rate_is_smaller(tmp_path: Path) -> None:
    frames = render_video(8, 4.0, 8.0, 160, 120)
    normal = write_video(tmp_path / "n.mp4", frames, 8.0)
    low = write_video(tmp_path / "l.mp4", frames, 8.0, bit_rate=8_000)
    assert low.stat().st_size < normal.stat().st_size


def test_odd_size_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 47, 64, 3), np.uint8), 8.0)


def test_generate_video_file(tmp_path: Path) -> None:
    path = generate_video_file(tmp_path / "g.mp4", 9, 2.0, 8.0, 64, 48)
    assert decode_video(path, fps=1.0).frames.shape[0] == 2
