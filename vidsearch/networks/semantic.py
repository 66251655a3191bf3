"""Semantic frame encoder: what is in a frame (colours, shapes, sizes, motion), for text.

The copy descriptor is trained to ignore colour, mirroring and scale, which is exactly what
captions describe, so text search, tags and captions stand on this encoder instead. It
sees each 1-fps frame together with its difference to the next one (motion stays visible
in a single forward pass) and is trained to name the facts of the scene (``HEADS``);
a per-cell head over the stride-16 map learns where shapes are. Its feature is the pooled
trunk output, the scene fact probabilities and, per dense class, its highest probability
over the cells (what is somewhere in the frame): the facts are readable from the served
feature without another model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from vidsearch.networks.resnet import ResNet
from vidsearch.networks.video_hash import IMAGENET_MEAN, IMAGENET_STD


class SemanticConfig(BaseModel):
    """Architecture of the semantic frame encoder (a small ResNet on frame + motion)."""

    model_config = ConfigDict(extra="forbid")

    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    blocks: tuple[int, int, int, int] = (1, 1, 1, 1)
    input_size: int = Field(default=112, ge=16, le=512, description="square model input (px)")
    head_sizes: tuple[int, ...] = Field(
        default=(6, 6, 11, 3, 6, 7, 12),
        description="classes per fact head, in training.facts.HEADS order")
    cell_head_sizes: tuple[int, ...] = Field(
        default=(7, 12, 3, 6),
        description="classes per dense (per grid cell) head, training.facts.CELL_FACTS order")
    dropout: float = Field(default=0.1, ge=0, lt=1)
    joint_cells: bool = Field(
        default=False,
        description="also serve, per pair of dense facts (kind+colour, kind+size, "
                    "kind+motion, colour+size, colour+motion), the pair's highest joint "
                    "probability over the cells: 'a red disk' rather than 'red somewhere, a "
                    "disk somewhere'")

    @property
    def grid(self) -> int:
        """Side of the dense grid: the trunk's stride-16 feature map (7 at 112 px)."""
        s = (self.input_size - 1) // 2 + 1  # stem conv, stride 2
        for _ in range(3):  # max-pool, layer2, layer3: stride 2 each
            s = (s - 1) // 2 + 1
        return s


class SemanticEncoder(nn.Module):
    """uint8 clips [B,T,S,S,3] -> per-frame features [B,T,F] (trunk + fact probabilities)."""

    mean: Tensor
    std: Tensor

    def __init__(self, cfg: SemanticConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_size = cfg.input_size
        self.trunk = ResNet("basic", cfg.blocks, cfg.widths, num_classes=0,
                            zero_init_residual=True, in_channels=6)
        self.trunk_dim = self.trunk.feature_dim
        self.drop = nn.Dropout(cfg.dropout)
        self.heads = nn.ModuleList(nn.Linear(self.trunk_dim, n) for n in cfg.head_sizes)
        self.cell_heads = nn.Conv2d(cfg.widths[2], sum(cfg.cell_head_sizes), kernel_size=1)
        self.feature_dim = (self.trunk_dim + sum(cfg.head_sizes) + sum(cfg.cell_head_sizes)
                            + (sum(a * b for a, b in _joint_sizes(cfg)) if cfg.joint_cells
                               else 0))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def pairs(self, frames: Tensor) -> Tensor:
        """uint8 [B,T,S,S,3] -> float [B*T,6,s,s]: normalised frame and (next - frame).

        The last frame has no successor: its difference is zero (no motion evidence)."""
        b, t = frames.shape[:2]
        x = frames.reshape(b * t, *frames.shape[2:]).permute(0, 3, 1, 2).float() / 255.0
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        x = x.reshape(b, t, *x.shape[1:])
        diff = torch.cat([x[:, 1:], x[:, -1:]], dim=1) - x
        x = (x - self.mean) / self.std
        return torch.cat([x, diff / self.std], dim=2).flatten(0, 1)

    def trunk_features(self, pairs: Tensor) -> Tensor:
        """[N,6,s,s] -> pooled trunk features [N,C] (serving path)."""
        return self.trunk_maps(pairs)[1]

    def trunk_maps(self, pairs: Tensor) -> tuple[Tensor, Tensor]:
        """[N,6,s,s] -> (stride-16 map [N,C3,g,g], pooled features [N,C]) (training path)."""
        t = self.trunk
        x = t.maxpool(t.relu(t.bn1(t.conv1(pairs))))
        grid = t.layer3(t.layer2(t.layer1(x)))
        return grid, torch.flatten(t.avgpool(t.layer4(grid)), 1)

    def cell_logits(self, grid: Tensor) -> list[Tensor]:
        """Stride-16 map -> one logit map [N,classes,g,g] per dense head."""
        return list(torch.split(self.cell_heads(grid), list(self.cfg.cell_head_sizes), dim=1))

    def fact_logits(self, feats: Tensor) -> list[Tensor]:
        """Trunk features [N,C] -> one logit tensor [N,classes] per fact head."""
        h = self.drop(feats)
        return [head(h) for head in self.heads]

    def forward(self, frames: Tensor) -> Tensor:
        b, t = frames.shape[:2]
        grid, feats = self.trunk_maps(self.pairs(frames))
        probs = [logits.softmax(dim=-1) for logits in self.fact_logits(feats)]
        cells = [logits.softmax(dim=1) for logits in self.cell_logits(grid)]
        # what is somewhere in the frame: each dense class's highest probability over cells
        present = [p.amax(dim=(2, 3)) for p in cells]
        if self.cfg.joint_cells:
            present += joint_presence(cells, self.cfg)
        return torch.cat([feats, *probs, *present], dim=-1).view(b, t, -1)


# Dense heads are (kind, colour, size, motion); kind and colour end with a "none"
# (background) class, size and motion are only defined on shapes.
_PAIRS = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3))


def _shape_classes(cfg: SemanticConfig) -> list[int]:
    n = list(cfg.cell_head_sizes)
    return [n[0] - 1, n[1] - 1, n[2], n[3]]


def _joint_sizes(cfg: SemanticConfig) -> list[tuple[int, int]]:
    n = _shape_classes(cfg)
    return [(n[a], n[b]) for a, b in _PAIRS]


def joint_presence(cells: list[Tensor], cfg: SemanticConfig) -> list[Tensor]:
    """Per pair of dense facts: max over cells of p(a) * p(b) -> [N, |a| * |b|]."""
    n = _shape_classes(cfg)
    out = []
    for a, b in _PAIRS:
        pa, pb = cells[a][:, : n[a]], cells[b][:, : n[b]]
        joint = pa.unsqueeze(2) * pb.unsqueeze(1)  # [N, A, B, g, g]
        out.append(joint.flatten(1, 2).amax(dim=(2, 3)))
    return out

