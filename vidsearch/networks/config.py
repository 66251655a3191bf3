"""Typed architecture configs: what a checkpoint needs to rebuild its modules.

A checkpoint stores its config as a plain dict; the builders in ``video_hash`` and
``barlow`` validate it back into these models, so exporters rebuild the exact network.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BackboneConfig(BaseModel):
    """Image sub-model of the copy descriptor: a ResNet trunk on normalised frames."""

    model_config = ConfigDict(extra="forbid")

    arch: Literal["small", "resnet18", "resnet34", "resnet50", "resnet101"] = "small"
    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    blocks: tuple[int, int, int, int] = (1, 1, 1, 1)
    block: Literal["basic", "bottleneck"] = "basic"
    input_size: int = Field(default=64, ge=16, le=1024, description="square model input (pixels)")
    pretrained_path: str | None = Field(default=
        None, description="local torchvision-named state_dict to start from (never downloaded)"
    )


class HeadsConfig(BaseModel):
    """Texture and hash (quantization) heads of the copy descriptor, parallel on the image
    feature."""

    model_config = ConfigDict(extra="forbid")

    texture_dim: int = Field(default=128, ge=2)
    hash_bits: int = Field(default=128, ge=8)
    hidden: int = Field(default=256, ge=0, description="head hidden width; 0 = linear")


class VideoHashConfig(BaseModel):
    """Copy descriptor and hash head: what near-duplicate search and duration / key-frame
    matching index (from EP 4 390 725 A1)."""

    model_config = ConfigDict(extra="forbid")

    backbone: BackboneConfig = BackboneConfig()
    heads: HeadsConfig = HeadsConfig()


class ProjectorConfig(BaseModel):
    """Barlow Twins projector of the recommendations' video embedder: hidden layers with
    BN+ReLU, then the output."""

    model_config = ConfigDict(extra="forbid")

    hidden: list[int] = Field(default_factory=lambda: [1024])
    out_dim: int = Field(default=4096, ge=2, description="video feature size (Barlow Twins: 4096)")


class VideoEmbedderConfig(BaseModel):
    """Video embedder for recommendations (Barlow Twins on two clips of a video)."""

    model_config = ConfigDict(extra="forbid")

    backbone: BackboneConfig = BackboneConfig()
    projector: ProjectorConfig = ProjectorConfig()
