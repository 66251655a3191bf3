"""Video embedder for recommendations, pre-trained Barlow-Twins style (from the CN patent
"Video quick retrieval method and system and video quick recommendation method").

Frame encoder (the same ``FrameEncoder`` as the copy descriptor, so the pre-trained trunk
can initialise its image sub-model) -> temporal mean pooling -> projector (Linear-BN-ReLU
hidden layers, then a Linear to ``out_dim``; 4096 as in the patent). The projector output
is the video feature that recommendations retrieve by cosine similarity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from vidsearch.networks.config import VideoEmbedderConfig
from vidsearch.networks.video_hash import FrameEncoder, build_frame_encoder, model_section


class Projector(nn.Module):
    """Barlow Twins projector: [Linear-BN-ReLU] * len(hidden), then Linear(out_dim)."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim
        for width in hidden:
            layers += [nn.Linear(dim, width, bias=False), nn.BatchNorm1d(width),
                       nn.ReLU(inplace=True)]
            dim = width
        layers.append(nn.Linear(dim, out_dim, bias=False))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out


class VideoEmbedder(nn.Module):
    """uint8 clips [B,T,H,W,3] -> video embedding [B,D] (recommendations)."""

    def __init__(self, encoder: FrameEncoder, projector: Projector) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = projector

    def pooled_float(self, clips: Tensor) -> Tensor:
        """Float clips [B,T,3,H,W] in [0,1] -> temporal mean of frame features [B,F]."""
        b, t = clips.shape[:2]
        feats = self.encoder.forward_float(clips.reshape(b * t, *clips.shape[2:]))
        return feats.view(b, t, -1).mean(dim=1)

    def forward_float(self, clips: Tensor) -> Tensor:
        """Training path: float clips [B,T,3,H,W] (already augmented) -> z [B,D]."""
        return self.projector(self.pooled_float(clips))

    def forward(self, frames: Tensor) -> Tensor:
        b, t = frames.shape[:2]
        feats = self.encoder(frames.reshape(b * t, *frames.shape[2:]))
        return self.projector(feats.view(b, t, -1).mean(dim=1))


def build_video_embedder(config: Mapping[str, Any] | VideoEmbedderConfig) -> VideoEmbedder:
    """Rebuild the (untrained) module from a checkpoint's config; load state_dict after."""
    cfg = (config if isinstance(config, VideoEmbedderConfig)
           else VideoEmbedderConfig.model_validate(dict(model_section(config))))
    encoder = build_frame_encoder(cfg.backbone)
    projector = Projector(encoder.feature_dim, cfg.projector.hidden, cfg.projector.out_dim)
    return VideoEmbedder(encoder, projector)
