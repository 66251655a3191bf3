"""Copy descriptor and hash head (near-duplicate search, duration and key-frame matching;
from EP 4 390 725 A1): image sub-model + parallel texture/quantization heads.

Served models take uint8 RGB frames NHWC and normalise inside (ImageNet mean/std), so
ONNX Runtime, Triton and TorchServe all preprocess identically. The texture and the
quantization sub-models both read the image feature IN PARALLEL (the patent's FIG. 1d, not
the stacked FIG. 1e): that is what lets the quantization head learn the texture ranking.

Whole-video mode: heads on the temporal mean of the frame features (the orchestrator
takes the mean; ``VideoHashModel.forward_video`` does the same for training/eval).
Key-frame mode: heads on each frame's feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidsearch.networks.config import BackboneConfig, VideoHashConfig
from vidsearch.networks.resnet import ARCHS, ResNet, load_pretrained_backbone, resnet_small

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def frames_to_float(frames: Tensor) -> Tensor:
    """uint8 [N,H,W,3] -> float32 [N,3,H,W] in [0,1]."""
    return frames.permute(0, 3, 1, 2).to(torch.float32) / 255.0


def sign_bits(u: Tensor) -> Tensor:
    """Formula 5 binarisation, b = +1 where u >= 0 else -1 (so sgn(0) = +1)."""
    return torch.where(u >= 0, torch.ones_like(u), -torch.ones_like(u))


def build_backbone(cfg: BackboneConfig) -> ResNet:
    """ResNet trunk without classifier; optionally loads a local torchvision file."""
    if cfg.arch == "small":
        net = resnet_small(cfg.widths, cfg.blocks, cfg.block)
    else:
        net = ARCHS[cfg.arch](num_classes=0)
    if cfg.pretrained_path:
        load_pretrained_backbone(net, cfg.pretrained_path)
    return net


class FrameEncoder(nn.Module):
    """Image processing sub-model: uint8 frames [N,H,W,3] -> image feature [N,F]."""

    mean: Tensor
    std: Tensor

    def __init__(self, backbone: ResNet, input_size: int = 64) -> None:
        super().__init__()
        self.backbone = backbone
        self.input_size = input_size
        self.feature_dim = backbone.feature_dim
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward_float(self, x: Tensor) -> Tensor:
        """Float frames [N,3,H,W] in [0,1] (training path, after augmentation)."""
        if x.shape[-2] != self.input_size or x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        out: Tensor = self.backbone.forward_features(x)
        return out

    def forward(self, frames: Tensor) -> Tensor:
        return self.forward_float(frames_to_float(frames))


def _mlp(cin: int, hidden: int, cout: int) -> nn.Sequential:
    if hidden <= 0:
        return nn.Sequential(nn.Linear(cin, cout))
    return nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, cout))


class HashTextureHeads(nn.Module):
    """Texture and quantization sub-models applied in parallel to one image feature.

    forward(feature [N,F]) -> (texture [N,Dt] L2-normalised, hash_logits u [N,K],
    hash_bits b = sgn(u) [N,K] in {-1,+1}, Formula 5). Texture is unit-norm so the
    texture distances (and margin_em) live on a fixed [0, 2] scale, as Table 1's do.
    """

    def __init__(self, feature_dim: int, texture_dim: int = 128, hash_bits: int = 128,
                 hidden: int = 256) -> None:
        super().__init__()
        self.texture = _mlp(feature_dim, hidden, texture_dim)
        self.quant = _mlp(feature_dim, hidden, hash_bits)
        # Bit balance: each bit is standardised over the batch (running stats when
        # serving), so no bit can settle on a constant sign. Without it the coding loss
        # (Formula 6) collapsed every code to one value within a few dozen steps.
        self.quant_bn = nn.BatchNorm1d(hash_bits, affine=False)

    def texture_features(self, feature: Tensor) -> Tensor:
        """Texture sub-model alone: unit-norm texture feature [N,Dt]."""
        return F.normalize(self.texture(feature), dim=-1)

    def quant_logits(self, feature: Tensor) -> Tensor:
        """Quantization sub-model alone: real-valued code u [N,K] (before Formula 5)."""
        out: Tensor = self.quant_bn(self.quant(feature))
        return out

    def forward(self, feature: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        logits = self.quant_logits(feature)
        return self.texture_features(feature), logits, sign_bits(logits)


class VideoHashModel(nn.Module):
    """Encoder + heads; ``forward`` is key-frame mode, ``forward_video`` whole-video mode."""

    def __init__(self, encoder: FrameEncoder, heads: HashTextureHeads) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = heads

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per frame: uint8 [N,H,W,3] -> (texture, hash_logits, hash_bits)."""
        out: tuple[Tensor, Tensor, Tensor] = self.heads(self.encoder(frames))
        return out

    def video_feature(self, frames: Tensor) -> Tensor:
        """uint8 [B,T,H,W,3] -> temporal mean of the frame features [B,F]."""
        b, t = frames.shape[:2]
        feats = self.encoder(frames.reshape(b * t, *frames.shape[2:]))
        return feats.view(b, t, -1).mean(dim=1)

    def forward_video(self, frames: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Whole video: heads on the temporal mean of the frame features."""
        out: tuple[Tensor, Tensor, Tensor] = self.heads(self.video_feature(frames))
        return out


def model_section(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept either a model section or a whole training config holding one under 'model'."""
    model = config.get("model")
    return model if isinstance(model, Mapping) else config


def build_frame_encoder(cfg: BackboneConfig) -> FrameEncoder:
    return FrameEncoder(build_backbone(cfg), cfg.input_size)


def build_video_hash_model(config: Mapping[str, Any] | VideoHashConfig) -> VideoHashModel:
    """Rebuild the (untrained) module from a checkpoint's config; load state_dict after."""
    cfg = (config if isinstance(config, VideoHashConfig)
           else VideoHashConfig.model_validate(dict(model_section(config))))
    encoder = build_frame_encoder(cfg.backbone)
    heads = HashTextureHeads(encoder.feature_dim, cfg.heads.texture_dim, cfg.heads.hash_bits,
                             cfg.heads.hidden)
    return VideoHashModel(encoder, heads)
