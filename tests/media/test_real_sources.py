"""Real footage and natural photos for the benchmark (evaluation only): enumeration,
filtering, video windows and camera paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vidsearch.media import real_sources
from vidsearch.media.real_sources import (
    MissingRealSourcesError,
    Shot,
    decode_window,
    photo_halves,
    photos,
    real_videos,
    render_shot,
    require_real_sources,
)
from vidsearch.media.transforms import resize


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    try:
        require_real_sources()
    except MissingRealSourcesError as exc:  # `make test` installs them (bench-data, bench extra)
        pytest.skip(f"real material not installed: {exc}")


def test_missing_material_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(real_sources, "OPENCV_DATA", Path("/nonexistent/opencv-doc"))
    with pytest.raises(MissingRealSourcesError, match="apt-get install -y opencv-doc"):
        require_real_sources()


def test_real_videos_found_and_probed() -> None:
    videos = {v.name: v for v in real_videos()}
    assert set(videos) == {"vtest.avi", "tree.avi", "Megamind.avi"}  # not Megamind_bugy
    assert videos["vtest.avi"].static_camera and not videos["Megamind.avi"].static_camera
    assert videos["vtest.avi"].duration_s == pytest.approx(79.5, abs=0.5)
    assert (videos["vtest.avi"].width, videos["vtest.avi"].height) == (768, 576)


def test_photos_are_natural_deduplicated_and_from_every_package() -> None:
    keys = [p.key for p in photos()]
    assert len(keys) >= 30 and len(set(keys)) == len(keys)
    assert {k.split(":")[0] for k in keys} == {"opencv-doc", "skimage", "sklearn", "matplotlib"}
    for natural in ("opencv-doc:baboon.jpg", "opencv-doc:fruits.jpg", "skimage:astronaut.png",
                    "skimage:coffee.png", "sklearn:china.jpg", "matplotlib:grace_hopper.jpg"):
        assert natural in keys
    for graphic in ("opencv-doc:LinuxLogo.jpg", "opencv-doc:WindowsLogo.jpg",
                    "opencv-doc:chessboard.png", "opencv-doc:digits.png", "skimage:logo.png",
                    "skimage:chessboard_RGB.png", "opencv-doc:HappyFish.jpg"):
        assert graphic not in keys  # graphics, charts, tiny images
    # one of each near-duplicate: stereo pairs, numbered takes, edited versions
    assert "opencv-doc:aloeL.jpg" in keys and "opencv-doc:aloeR.jpg" not in keys
    assert "skimage:motorcycle_right.png" not in keys
    assert "opencv-doc:ela_modified.jpg" not in keys
    assert sum(k.startswith("opencv-doc:graf") for k in keys) <= 1
    assert all(min(p.width, p.height) >= 200 for p in photos())


def test_decode_window_is_the_video_at_those_times() -> None:
    vtest = next(v for v in real_videos() if v.name == "vtest.avi")
    a = decode_window(vtest.path, 10.0, 8, 2.0, 96, 72)  # 10.0 .. 13.5 s
    b = decode_window(vtest.path, 11.0, 4, 2.0, 96, 72)  # 11.0 .. 12.5 s
    assert a.shape == (8, 72, 96, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a[2:6], b)  # same ticks, same frames
    far = decode_window(vtest.path, 60.0, 4, 2.0, 96, 72)
    assert np.abs(a[:4].astype(np.float32) - far).mean() > np.abs(
        a[2:6].astype(np.float32) - b).mean()
    assert not np.array_equal(a[0], a[-1])  # pedestrians move
    # Sampled faster than the video's 10 fps, a window starting between two frames (10.09
    # s) shows the frame of 10.0 s first, however far back that is in ticks.
    fast = decode_window(vtest.path, 10.09, 2, 12.0, 96, 72)
    np.testing.assert_array_equal(fast[0], a[0])


def test_camera_path_shows_the_photo_window() -> None:
    photo = next(p for p in photos() if p.key == "skimage:astronaut.png")  # 512 x 512
    still = Shot(photo.key, 3, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # centre, half the height
    frames = render_shot(still, 64, 48)
    assert frames.shape == (3, 48, 64, 3)
    rgb = real_sources.load_photo(photo.key)

    def coarse(img: np.ndarray) -> np.ndarray:  # 16 x 12 block means: no aliasing question
        return img.astype(np.float32).reshape(12, 4, 16, 4, 3).mean(axis=(1, 3))

    want = coarse(resize(rgb[None, 128:384, 85:427], 48, 64)[0])
    shifted = coarse(resize(rgb[None, 128:384, 125:467], 48, 64)[0])  # 40 px to the right
    error = np.abs(coarse(frames[0]) - want).mean()
    assert error < 6 and error < 0.3 * np.abs(coarse(frames[0]) - shifted).mean()
    np.testing.assert_array_equal(frames[0], frames[2])  # no motion when start == end
    moving = render_shot(Shot(photo.key, 5, (0.3, 0.3, 0.4), (0.7, 0.6, 0.3)), 64, 48)
    assert np.abs(moving[0].astype(np.float32) - moving[-1]).mean() > 10


def test_draw_shot_stays_inside_its_half() -> None:
    rng = np.random.default_rng(0)
    photo = next(p for p in photos() if p.width > p.height)
    left, right = photo_halves(photo)
    for _ in range(20):
        shot = real_sources.draw_shot(rng, photo, right, 10, 4 / 3)
        for cx, cy, wh in (shot.start, shot.end):
            x0 = (cx - wh * 4 / 3 / 2) * photo.height
            x1 = (cx + wh * 4 / 3 / 2) * photo.height
            assert right[0] * photo.width - 1e-6 <= x0 and x1 <= photo.width + 1e-6
            assert (cy - wh / 2) >= 0 and (cy + wh / 2) * photo.height <= photo.height + 1e-6
        assert shot.region == right and left[2] <= right[0]


def test_picture_in_picture_on_a_photo_background() -> None:
    from vidsearch.media.transforms import PictureInPicture, transform_from_dict

    clip = np.zeros((4, 48, 64, 3), dtype=np.uint8)
    clip[..., 0] = 255  # a red copy
    path = (0.5, 0.5, 0.6, 0.55, 0.5, 0.5)
    pip = PictureInPicture(0.5, 0.0, 0.0, 2_000_001, "skimage:coffee.png", path)
    out, _ = pip.apply(clip, 8.0, np.random.default_rng(0))
    host = render_shot(Shot("skimage:coffee.png", 4, path[:3], path[3:]), 64, 48)
    np.testing.assert_array_equal(out[:, :24, :32], clip[:, :24, :32])  # the inset, top left
    np.testing.assert_array_equal(out[:, 24:], host[:, 24:])  # the photo around it
    assert transform_from_dict(pip.to_dict()) == pip
