"""Copy transforms: shape/dtype rules, seeded determinism, time mapping and embedding."""

from __future__ import annotations

import numpy as np
import pytest

from vidsearch.media.synthetic import render_video
from vidsearch.media.transforms import (
    TRANSFORMS,
    ColorJitter,
    Crop,
    EmojiOverlay,
    FrameRate,
    GaussianBlur,
    GaussianNoise,
    Grayscale,
    HFlip,
    LogoOverlay,
    Pad,
    PictureInPicture,
    ReEncode,
    Rot90,
    Scale,
    Speed,
    TextOverlay,
    Transform,
    apply_chain,
    chain_bit_rate,
    chain_source_indices,
    embed_segment,
    random_chain,
    transform_from_dict,
)

FPS = 8.0
EXAMPLES: list[Transform] = [
    Crop(0.1, 0.2, 0.7, 0.75),
    Scale(0.6),
    Scale(1.25),
    HFlip(),
    Rot90(1),
    Rot90(2),
    ColorJitter(1.2, 0.8, 1.3, 0.05),
    Grayscale(),
    GaussianBlur(1.5),
    GaussianNoise(8.0),
    TextOverlay(6, 0.1, 0.7, 0.12, (255, 255, 0), 3),
    EmojiOverlay((0.1, 0.2, 0.6, 0.5), 0.2, (250, 200, 0)),
    LogoOverlay(0.7, 0.05, 0.2, (200, 0, 0), (255, 255, 255), 0.8),
    Pad(0.1, 0.1, 0.05, 0.12, (0, 0, 0)),
    PictureInPicture(0.5, 0.3, 0.6, 2_000_123),
    FrameRate(4.0),
    FrameRate(12.0),
    Speed(1.5),
    Speed(0.75),
    ReEncode(12_000),
]


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return render_video(21, 3.0, FPS, 64, 48)  # 24 frames


def test_examples_cover_every_transform() -> None:
    assert {t.name for t in EXAMPLES} == set(TRANSFORMS)


@pytest.mark.parametrize("tr", EXAMPLES, ids=lambda t: repr(t))
def test_shape_dtype_rules(tr: Transform, clip: np.ndarray) -> None:
    out, fps = tr.apply(clip, FPS, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.ndim == 4 and out.shape[-1] == 3
    h, w = out.shape[1:3]
    assert h % 2 == 0 and w % 2 == 0 and min(h, w) >= 16  # writable as yuv420p
    idx, idx_fps = tr.source_indices(len(clip), FPS)
    assert len(out) == len(idx) and fps == idx_fps
    if not isinstance(tr, FrameRate | Speed):
        assert len(out) == len(clip) and fps == FPS
    if isinstance(tr, Rot90) and tr.k % 2:
        assert (w, h) == clip.shape[1:3]
    elif not isinstance(tr, Crop | Scale | Pad):
        assert (h, w) == clip.shape[1:3]
    if not isinstance(tr, ReEncode):
        assert not np.shares_memory(out, clip)  # callers may edit the result in place


@pytest.mark.parametrize("tr", EXAMPLES, ids=lambda t: repr(t))
def test_deterministic_and_serialisable(tr: Transform, clip: np.ndarray) -> None:
    a, _ = tr.apply(clip, FPS, np.random.default_rng(5))
    b, _ = transform_from_dict(tr.to_dict()).apply(clip, FPS, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert transform_from_dict(tr.to_dict()) == tr


def test_exact_spatial_transforms(clip: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(HFlip().apply(clip, FPS, rng)[0], clip[:, :, ::-1])
    turned, _ = Rot90(1).apply(clip, FPS, rng)
    assert turned.shape == (24, 64, 48, 3)
    np.testing.assert_array_equal(turned[:, :, 0], clip[:, 0, ::-1])  # top row -> left column
    np.testing.assert_array_equal(Rot90(3).apply(turned, FPS, rng)[0], clip)
    grey, _ = Grayscale().apply(clip, FPS, rng)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    crop, _ = Crop(0.25, 0.25, 0.5, 0.5).apply(clip, FPS, rng)
    np.testing.assert_array_equal(crop, clip[:, 12:36, 16:48])
    pad, _ = Pad(0.25, 0.25, 0.0, 0.0, (0, 0, 0)).apply(clip, FPS, rng)
    np.testing.assert_array_equal(pad[:, 12:60], clip)
    assert pad[:, :12].max() == 0


def test_photometric_changes_are_real_but_mild(clip: np.ndarray) -> None:
    base = clip.astype(np.float32)
    for tr in (ColorJitter(1.2, 0.8, 1.3, 0.05), GaussianBlur(1.5), GaussianNoise(8.0)):
        diff = np.abs(tr.apply(clip, FPS, np.random.default_rng(0))[0] - base).mean()
        assert 1.0 < diff < 40.0, tr


def test_emoji_overlay_paints_only_its_stickers(clip: np.ndarray) -> None:
    emoji = EmojiOverlay((0.0, 0.0), 0.25, (250, 200, 0))
    out, _ = emoji.apply(clip, FPS, np.random.default_rng(0))
    changed = (out != clip).any(axis=(0, 3))
    assert changed[:12, :12].mean() > 0.4 and not changed[12:].any() and not changed[:, 12:].any()


def test_noise_depends_on_rng_seed(clip: np.ndarray) -> None:
    a, _ = GaussianNoise(8.0).apply(clip, FPS, np.random.default_rng(1))
    b, _ = GaussianNoise(8.0).apply(clip, FPS, np.random.default_rng(2))
    assert not np.array_equal(a, b)


def test_speed_and_frame_rate_resample_time(clip: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    fast, fps = Speed(2.0).apply(clip, FPS, rng)
    assert len(fast) == 12 and fps == FPS
    np.testing.assert_array_equal(fast, clip[::2])
    slow, _ = Speed(0.5).apply(clip, FPS, rng)
    assert len(slow) == 48
    np.testing.assert_array_equal(slow[::2], clip)
    half, fps = FrameRate(4.0).apply(clip, FPS, rng)
    assert len(half) == 12 and fps == 4.0  # same 3 s duration at half the rate
    up, fps = FrameRate(12.0).apply(clip, FPS, rng)
    assert len(up) == 36 and fps == 12.0


def test_chain_source_indices_track_frames(clip: np.ndarray) -> None:
    """Tag each frame with its index in pixel (0, 0); the chain's index map must agree."""
    tagged = np.zeros((24, 16, 16, 3), dtype=np.uint8)
    tagged[:, 0, 0, 0] = np.arange(24)
    chain: list[Transform] = [Speed(1.3), FrameRate(6.0), Speed(0.8)]
    out, fps = apply_chain(chain, tagged, FPS, np.random.default_rng(0))
    np.testing.assert_array_equal(out[:, 0, 0, 0], chain_source_indices(chain, 24, FPS))
    assert fps == 6.0


def test_random_chain() -> None:
    for seed in range(30):
        chain = random_chain(np.random.default_rng(seed))
        assert 1 <= len(chain) <= 3 and len({t.name for t in chain}) == len(chain)
        assert chain == random_chain(np.random.default_rng(seed))
    assert random_chain(np.random.default_rng(0), 0, 0) == []
    names = {t.name for s in range(200) for t in random_chain(np.random.default_rng(s))}
    assert names == set(TRANSFORMS)


def test_random_chains_apply(clip: np.ndarray) -> None:
    for seed in range(10):
        chain = random_chain(np.random.default_rng(seed))
        out, fps = apply_chain(chain, clip, FPS, np.random.default_rng(seed))
        assert out.dtype == np.uint8 and out.shape[1] % 2 == 0 and out.shape[2] % 2 == 0
        assert 0.5 * 3.0 <= len(out) / fps <= 1.5 * 3.0  # about the same duration


def test_chain_bit_rate() -> None:
    assert chain_bit_rate([HFlip()]) is None
    assert chain_bit_rate([HFlip(), ReEncode(15_000)]) == 15_000


def test_embed_segment_placement(clip: np.ndarray) -> None:
    host = render_video(2_000_001, 6.0, FPS, 64, 48)
    out = embed_segment(clip[:10], host, at_frame=20)
    assert out.shape == host.shape
    np.testing.assert_array_equal(out[20:30], clip[:10])
    np.testing.assert_array_equal(out[:20], host[:20])
    np.testing.assert_array_equal(out[30:], host[30:])


def test_embed_segment_resizes_to_host(clip: np.ndarray) -> None:
    host = render_video(2_000_002, 4.0, FPS, 32, 24)
    out = embed_segment(clip[:8], host, at_frame=0)
    assert out.shape == host.shape
    with pytest.raises(ValueError, match="does not fit"):
        embed_segment(clip, host, at_frame=20)
