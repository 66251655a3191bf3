"""Batched, seeded augmentations: determinism, clip-level consistency, exact simple cases."""

from __future__ import annotations

import torch

from vidsearch.training.augment import AugmentConfig, augment_clips, augment_frames

OFF = AugmentConfig(crop_p=0, flip_p=0, pad_p=0, pip_p=0, jitter_p=0, grey_p=0, blur_p=0,
                    overlay_p=0, compress_p=0, noise_p=0)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_everything_off_is_identity() -> None:
    x = torch.rand(3, 3, 16, 20, generator=_gen(0))
    assert torch.allclose(augment_frames(x, OFF, _gen(1)), x, atol=1e-5)


def test_flip_only_mirrors_horizontally() -> None:
    x = torch.rand(2, 3, 8, 8, generator=_gen(0))
    y = augment_frames(x, OFF.model_copy(update={"flip_p": 1.0}), _gen(1))
    assert torch.allclose(y, x.flip(-1), atol=1e-5)


def test_greyscale_uses_luma_weights() -> None:
    x = torch.zeros(1, 3, 2, 2)
    x[:, 0] = 1.0  # pure red -> 0.299 in every channel
    y = augment_frames(x, OFF.model_copy(update={"grey_p": 1.0}), _gen(1))
    assert torch.allclose(y, torch.full_like(y, 0.299), atol=1e-6)


def test_same_seed_same_batch_and_range() -> None:
    x = torch.rand(6, 3, 32, 32, generator=_gen(0))
    a = augment_frames(x, AugmentConfig(), _gen(7), out_size=24)
    b = augment_frames(x, AugmentConfig(), _gen(7), out_size=24)
    c = augment_frames(x, AugmentConfig(), _gen(8), out_size=24)
    assert a.shape == (6, 3, 24, 24)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_clip_mode_applies_one_draw_to_every_frame() -> None:
    frame = torch.rand(1, 1, 3, 32, 32, generator=_gen(0))
    clips = frame.expand(4, 5, 3, 32, 32).contiguous()  # 4 clips of 5 identical frames
    cfg = AugmentConfig(noise_p=0.0, pip_p=0.0)  # per-frame noise/other-clip PiP would differ
    y = augment_clips(clips, cfg, _gen(3))
    assert y.shape == (4, 5, 3, 32, 32)
    for b in range(4):
        for t in range(1, 5):
            assert torch.allclose(y[b, t], y[b, 0], atol=1e-6)
    assert not torch.allclose(y[0, 0], y[1, 0], atol=1e-3)  # clips get different draws


def test_frame_mode_draws_per_frame() -> None:
    x = torch.rand(1, 3, 32, 32, generator=_gen(0)).expand(4, 3, 32, 32).contiguous()
    y = augment_frames(x, AugmentConfig(noise_p=0.0), _gen(3))
    assert not torch.allclose(y[0], y[1], atol=1e-3)


def test_rot90_only_rotates_by_quarter_turns() -> None:
    x = torch.rand(16, 3, 8, 8, generator=_gen(0))
    y = augment_frames(x, OFF.model_copy(update={"rot90_p": 1.0}), _gen(3))
    turns = []
    for xi, yi in zip(x, y, strict=True):
        match = [k for k in (1, 2, 3) if torch.allclose(yi, torch.rot90(xi, k, (1, 2)), atol=1e-5)]
        assert len(match) == 1, "every frame is exactly one quarter, half or three-quarter turn"
        turns.append(match[0])
    assert set(turns) == {1, 2, 3}


def test_every_copy_family_changes_the_frame() -> None:
    """Each family the benchmark edits with is exercised by the training augmentations."""
    x = torch.rand(8, 3, 32, 32, generator=_gen(0))
    families = {
        "crop": {"crop_p": 1.0, "crop_scale": (0.3, 0.5)},
        "flip": {"flip_p": 1.0},
        "rot90": {"rot90_p": 1.0},
        "pad": {"pad_p": 1.0},
        "picture_in_picture": {"pip_p": 1.0},
        "colour": {"jitter_p": 1.0},
        "greyscale": {"grey_p": 1.0},
        "blur": {"blur_p": 1.0},
        "overlay": {"overlay_p": 1.0},
        "reencode": {"compress_p": 1.0},
        "noise": {"noise_p": 1.0},
    }
    for name, change in families.items():
        y = augment_frames(x, OFF.model_copy(update=change), _gen(5))
        assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
        assert float((y - x).abs().mean()) > 0.005, f"{name} left the frames unchanged"
