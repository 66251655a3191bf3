"""Tiny stand-ins for the three served networks, same tensor contract, seeded weights.

They let the export/serving machinery (and ``make serve-triton`` before any training)
run in seconds on two CPU cores: uint8 RGB NHWC frames in, normalisation inside.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

HASH_BITS = 128


class ToyFrameEncoder(nn.Module):
    """uint8 frames [N,H,W,3] -> feature [N,F]."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, feature_dim: int = 32, width: int = 8) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(2 * width, feature_dim)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float() / 255.0
        x = (x - self.mean) / self.std
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class ToyHashTextureHeads(nn.Module):
    """feature [N,F] -> (texture [N,Dt], hash_logits [N,128], hash_bits [N,128] ±1)."""

    def __init__(self, feature_dim: int = 32, texture_dim: int = 16) -> None:
        super().__init__()
        self.texture = nn.Linear(feature_dim, texture_dim)
        self.hash = nn.Linear(feature_dim, HASH_BITS)

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        texture = F.normalize(self.texture(feature), dim=-1)
        logits = self.hash(feature)
        bits = torch.where(logits >= 0, torch.ones_like(logits), -torch.ones_like(logits))
        return texture, logits, bits


class ToyVideoEmbedder(nn.Module):
    """uint8 frames [B,T,H,W,3] -> L2-normalised embedding [B,D] (temporal mean)."""

    def __init__(self, feature_dim: int = 32, embedding_dim: int = 24) -> None:
        super().__init__()
        self.encoder = ToyFrameEncoder(feature_dim)
        self.project = nn.Linear(feature_dim, embedding_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, steps = frames.shape[0], frames.shape[1]
        features = self.encoder(frames.flatten(0, 1)).reshape(batch, steps, -1).mean(dim=1)
        return F.normalize(self.project(features), dim=-1)


def seeded(module_type: type[nn.Module], seed: int, **kwargs: int) -> nn.Module:
    """Build ``module_type(**kwargs)`` with weights from ``seed``, global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = module_type(**kwargs)
        for buffer_name, buffer in module.named_buffers():
            if buffer_name.endswith("running_mean"):
                buffer.uniform_(-0.1, 0.1)
            elif buffer_name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5)
    return module.eval()
