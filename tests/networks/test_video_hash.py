"""Shapes, in-module preprocessing and parallel heads of the seed 001/002 networks."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from vidsearch.networks.barlow import VideoEmbedder, build_video_embedder
from vidsearch.networks.config import ProjectorConfig, VideoEmbedderConfig
from vidsearch.networks.video_hash import (
    FrameEncoder,
    HashTextureHeads,
    build_video_hash_model,
    sign_bits,
)

TINY = {"backbone": {"widths": [8, 8, 16, 16], "input_size": 32},
        "heads": {"texture_dim": 12, "hash_bits": 16, "hidden": 8}}


class _ChannelMean(nn.Module):
    """Stub trunk: per-channel mean of the normalised input, to observe preprocessing."""

    feature_dim = 3

    def forward_features(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3))


def test_frame_encoder_normalises_uint8_with_imagenet_stats() -> None:
    enc = FrameEncoder(_ChannelMean(), input_size=4)  # type: ignore[arg-type]
    frames = torch.zeros(1, 4, 4, 3, dtype=torch.uint8)
    frames[..., 0] = 255  # pure red
    out = enc(frames)
    # (1 - 0.485)/0.229, (0 - 0.456)/0.224, (0 - 0.406)/0.225
    assert torch.allclose(out, torch.tensor([[2.24891, -2.03571, -1.80444]]), atol=1e-4)


def test_frame_encoder_resizes_other_sizes() -> None:
    enc = FrameEncoder(_ChannelMean(), input_size=4)  # type: ignore[arg-type]
    frames = torch.full((2, 9, 7, 3), 255, dtype=torch.uint8)
    expected = torch.tensor([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225])
    assert torch.allclose(enc(frames), expected.expand(2, 3), atol=1e-4)


def test_video_hash_shapes_and_bits() -> None:
    model = build_video_hash_model(TINY).eval()
    frames = torch.randint(0, 256, (5, 32, 32, 3), dtype=torch.uint8)
    feat = model.encoder(frames)
    assert feat.shape == (5, 16) and feat.dtype == torch.float32
    texture, logits, bits = model(frames)
    assert texture.shape == (5, 12) and logits.shape == (5, 16) and bits.shape == (5, 16)
    assert torch.allclose(texture.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.equal(bits, torch.where(logits >= 0, 1.0, -1.0))


def test_sign_of_zero_is_plus_one() -> None:
    assert sign_bits(torch.tensor([-0.1, 0.0, 0.3])).tolist() == [-1.0, 1.0, 1.0]
    heads = HashTextureHeads(4, texture_dim=3, hash_bits=5, hidden=0)
    last = heads.quant[-1]
    assert isinstance(last, nn.Linear)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    _, logits, bits = heads(torch.randn(2, 4))
    assert torch.equal(logits, torch.zeros(2, 5)) and torch.equal(bits, torch.ones(2, 5))


def test_heads_are_parallel_not_stacked() -> None:
    heads = HashTextureHeads(10, texture_dim=6, hash_bits=8, hidden=7)
    feature = torch.randn(3, 10, requires_grad=True)
    texture, logits, _ = heads(feature)
    # both heads read the image feature directly ...
    assert heads.texture[0].in_features == 10 and heads.quant[0].in_features == 10
    # ... and the quantization output does not depend on the texture head (nor vice versa)
    t_grads = torch.autograd.grad(logits.sum(), list(heads.texture.parameters()),
                                  allow_unused=True)
    q_grads = torch.autograd.grad(texture.sum(), list(heads.quant.parameters()),
                                  allow_unused=True)
    assert all(g is None for g in t_grads) and all(g is None for g in q_grads)


def test_forward_video_is_heads_on_temporal_mean() -> None:
    model = build_video_hash_model({"model": TINY}).eval()  # whole training config accepted
    clips = torch.randint(0, 256, (2, 3, 32, 32, 3), dtype=torch.uint8)
    tex, logits, bits = model.forward_video(clips)
    with torch.no_grad():
        mean_feat = model.encoder(clips.reshape(6, 32, 32, 3)).view(2, 3, -1).mean(1)
        e_tex, e_logits, e_bits = model.heads(mean_feat)
    assert torch.allclose(tex, e_tex, atol=1e-6) and torch.allclose(logits, e_logits, atol=1e-6)
    assert torch.equal(bits, e_bits)


def test_video_embedder_shape_and_default_dim() -> None:
    assert VideoEmbedderConfig().projector.out_dim == 4096  # seed 002's feature size
    cfg = VideoEmbedderConfig.model_validate(
        {"backbone": TINY["backbone"], "projector": ProjectorConfig(hidden=[24], out_dim=40)})
    model = build_video_embedder(cfg).eval()
    assert isinstance(model, VideoEmbedder)
    clips = torch.randint(0, 256, (3, 4, 32, 32, 3), dtype=torch.uint8)
    emb = model(clips)
    assert emb.shape == (3, 40) and emb.dtype == torch.float32
    floats = clips.permute(0, 1, 4, 2, 3).float() / 255.0
    assert torch.allclose(model.forward_float(floats), emb, atol=1e-5)


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        build_video_hash_model({"backbone": {"widthz": [1, 2, 3, 4]}})


def test_quantization_bits_are_balanced_over_a_training_batch() -> None:
    heads = HashTextureHeads(6, texture_dim=4, hash_bits=8, hidden=5).train()
    u = heads.quant_logits(torch.randn(32, 6) + 3.0)  # features far from zero mean
    assert torch.allclose(u.mean(dim=0), torch.zeros(8), atol=1e-5)
