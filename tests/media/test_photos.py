"""Training photographs: de-duplication, flat-art filter, benchmark material refused, and
videos filmed over them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidsearch.media.photos import (
    NoPhotosError,
    candidate_files,
    render_photo_video,
    training_photos,
)
from vidsearch.media.synthetic import render_video


def _picture(seed: int) -> np.ndarray:
    """A detailed 'photo': a procedural frame rendered large, with fine noise on top."""
    frame = render_video(seed, 1.0, fps=1.0, width=960, height=720)[0].astype(np.int16)
    noise = np.random.default_rng(seed).integers(-12, 13, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def test_duplicates_and_flat_art_are_dropped(tmp_path: Path) -> None:
    a, b = _picture(1), _picture(3)
    Image.fromarray(a).save(tmp_path / "a_large.jpg", quality=92)
    Image.fromarray(a).resize((800, 600)).save(tmp_path / "a_small.jpg", quality=85)
    Image.fromarray(b).save(tmp_path / "b.png")
    Image.new("RGB", (1200, 900), (40, 90, 200)).save(tmp_path / "flat.png")
    Image.fromarray(b).resize((320, 240)).save(tmp_path / "icon.png")  # too small
    photos = training_photos([tmp_path], max_side=256)
    names = sorted(p.path.name for p in photos)
    assert names == ["a_large.jpg", "b.png"]  # the larger copy of a kept, flat/icon dropped
    assert all(max(p.pixels.shape[:2]) == 256 for p in photos)
    assert len({p.digest for p in photos}) == 2


def test_benchmark_material_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="benchmark material"):
        candidate_files([tmp_path / "usr/share/doc/opencv-doc/examples/data"])
    with pytest.raises(NoPhotosError, match="apt-get install"):
        training_photos([tmp_path / "nothing-here"])


def test_photo_video_is_seeded_and_moves() -> None:
    pictures = [_picture(3)[::2, ::2], _picture(4)[::2, ::2]]
    v1 = render_photo_video(pictures, 5, duration_s=6.0, fps=2.0, width=96, height=72)
    v2 = render_photo_video(pictures, 5, duration_s=6.0, fps=2.0, width=96, height=72)
    v3 = render_photo_video(pictures, 6, duration_s=6.0, fps=2.0, width=96, height=72)
    assert v1.shape == (12, 72, 96, 3) and v1.dtype == np.uint8
    assert np.array_equal(v1, v2) and not np.array_equal(v1, v3)
    steps = np.abs(np.diff(v1.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    assert (steps > 0).all(), "the camera pans, zooms or cuts between every frame"


def test_installed_wallpapers_give_many_distinct_photos() -> None:
    """The Makefile installs Debian's wallpaper packages; they must yield real material."""
    if not candidate_files():
        pytest.skip("wallpaper packages not installed here (make test installs them)")
    photos = training_photos(max_side=128)
    assert len(photos) >= 50
    assert len({p.digest for p in photos}) == len(photos)
