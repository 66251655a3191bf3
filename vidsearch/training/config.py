"""Typed training configs, loaded from YAML (configs/training/*.yaml).

One model per stage; the starter recipe bundles the three stages and one shared data
section. Units: texture features are unit-norm (distances in [0, 2]), hash logits are
pushed to +-1 by Formula 6 (Euclidean distance between two 128-bit codes is
2*sqrt(Hamming)), so quantization margins are in those Euclidean units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field

from vidsearch.media.photos import PHOTO_ROOTS
from vidsearch.networks.config import VideoEmbedderConfig, VideoHashConfig
from vidsearch.training.augment import AugmentConfig

QuantLoss = Literal["formula7", "formula8", "fixed_margin"]


class DataConfig(BaseModel):
    """Procedurally generated training videos (vidsearch.media.synthetic)."""

    model_config = ConfigDict(extra="forbid")

    seed_start: int = Field(default=0, ge=0, description="first render seed (TRAIN_SEEDS range)")
    n_videos: int = Field(default=300, ge=2)
    duration_s: float = Field(default=24.0, gt=0)
    render_fps: float = Field(default=2.0, gt=0, description="rendered fps (>= sample_fps)")
    sample_fps: float = Field(default=1.0, gt=0, description="frames per second the models see")
    render_width: int = Field(default=128, ge=16)
    render_height: int = Field(default=96, ge=16)
    frame_size: int = Field(default=64, ge=16, description="square frame size fed to the model")
    val_seed_start: int = Field(default=900_000, ge=0, description="held-out validation seeds")
    n_val_videos: int = Field(default=48, ge=2)
    cache_dir: str | None = Field(default=None, description="reuse rendered corpora across runs")
    render_workers: int = Field(
        default=1, ge=1,
        description="processes rendering videos and reading their facts back (the same "
                    "frames for any count: the GPU script uses the machine's cores)")
    photo_videos: int = Field(
        default=0, ge=0, description="extra videos filmed over natural photos (media.photos)")
    photo_roots: list[str] = Field(
        default_factory=lambda: [str(p) for p in PHOTO_ROOTS],
        description="where the training photographs are installed (Debian wallpaper packages)")


def light_augment() -> AugmentConfig:
    """Anchor-side augmentation: what an indexed (decoded, re-encoded) copy goes through."""
    return AugmentConfig(crop_scale=(0.8, 1.0), crop_ratio=(0.9, 1.1), flip_p=0.0, pad_p=0.0,
                         pip_p=0.0, jitter_p=0.3, brightness=0.1, contrast=0.1,
                         saturation=0.1, hue=0.02, grey_p=0.0, blur_p=0.1, overlay_p=0.0,
                         compress_p=0.3, noise_p=0.2, noise_std=(0.0, 0.02))


class _StageBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup_steps: int = Field(default=20, ge=0)
    steps_per_epoch: int = Field(default=25, ge=1)
    max_epochs: int = Field(default=8, ge=1, description="epoch cap")
    seed: int = 0
    num_threads: int | None = Field(default=None, ge=1, description="torch threads; None = default")
    model_version: int = Field(default=1, ge=1)


class BarlowConfig(_StageBase):
    """Barlow Twins pre-training: two random clips per video, same augmentation per clip."""

    kind: Literal["barlow"] = "barlow"
    model: VideoEmbedderConfig = VideoEmbedderConfig()
    batch_size: int = Field(default=32, ge=2, description="videos per batch (2 clips each)")
    clip_len: int = Field(default=4, ge=1, description="frames per clip at sample_fps (seed: 32)")
    lambd: float = Field(default=0.001, ge=0, description="off-diagonal weight (seed: 0.001)")
    loss_threshold: float | None = Field(default=None, description="stop under this loss")


class _HashBase(_StageBase):
    model: VideoHashConfig = VideoHashConfig()
    anchor_augment: AugmentConfig = Field(default_factory=light_augment)
    batch_size: int = Field(default=64, ge=2, description="similar pairs per similar-sample set")
    k_percent: float = Field(default=2.0, ge=0, lt=100, description="miner: nearest k% dropped")
    m: int = Field(default=8, ge=1, description="negatives kept per pair by the miner")
    temporal_jitter_p: float = Field(default=0.5, ge=0, le=1, description="neighbour positive")
    margin_em: float = Field(default=0.4, gt=0, description="texture margin (Formulas 1-2)")
    eval_queries: int = Field(default=256, ge=8)


class Stage1Config(_HashBase):
    """Near-duplicate stage 1: image + texture sub-models by Formula 1 on mined triplets."""

    kind: Literal["stage1"] = "stage1"
    init_from: str | None = Field(default=None, description="Barlow checkpoint")
    loss_threshold: float = Field(default=0.02, ge=0, description="stop when epoch L_em is under")


class Stage2Config(_HashBase):
    """Near-duplicate stage 2: texture by Formula 2; image + quantization by Formulas 3-7 / 8."""

    kind: Literal["stage2"] = "stage2"
    init_from: str | None = Field(default=None, description="stage 1 checkpoint")
    quant_loss: QuantLoss = "formula7"
    margin0: float = Field(default=8.0, gt=0, description="Formula 3 preset margin (quant units)")
    m_em: float = Field(default=0.3, gt=0, description="Formula 3 texture/Hamming scale ratio")
    margin_min: float = Field(default=0.0, ge=0, description="Formula 3 floor")
    margin_max: float | None = Field(default=None, gt=0, description="cap on Formula 3 margins")
    fixed_margin: float = Field(default=8.0, gt=0, description="margin of quant_loss=fixed_margin")
    formula8_margin: float | None = Field(
        default=None, description="override; None = margin0 * margin_em / m_em (code units)")
    w21: float = Field(default=1.0, ge=0)
    w22: float = Field(default=0.02, ge=0)
    w_distill: float = Field(
        default=0.0, ge=0,
        description="addition (0 = the seed): code/texture cosine distillation weight")
    texture_threshold: float = Field(default=0.02, ge=0, description="stop: L_em' under")
    quant_threshold: float = Field(default=0.05, ge=0, description="... and L_q under")
    texture_to_backbone: bool = Field(
        default=False, description="Formula 2 also trains the image sub-model (seed: no)")
    train_encoder: bool = Field(
        default=True, description="false: only the quantization head learns (keeps a "
        "trained copy descriptor exactly as it is)")


class DescriptorConfig(_HashBase):
    """Copy descriptor (SSCD-style): image + texture sub-models by InfoNCE + KoLeo.

    Replaces stage 1 for the copy-detection release: every other frame of the batch is a
    negative (not only the mined few), and the entropy term spreads descriptors so that a
    similarity means the same for every query.
    """

    kind: Literal["descriptor"] = "descriptor"
    # Both views strongly edited, as in SSCD: with a light anchor the batch splits into a
    # "light" and a "heavy" cluster and InfoNCE stalls above chance (measured here).
    anchor_augment: AugmentConfig = Field(default_factory=AugmentConfig)
    init_from: str | None = Field(default=None, description="video_hash checkpoint to continue")
    temperature: float = Field(default=0.05, gt=0, description="InfoNCE temperature (SSCD: 0.05)")
    koleo_weight: float = Field(
        default=0.3, ge=0, description="KoLeo weight (0 = off); 10 kept InfoNCE above chance "
        "in the first 50 steps here, 0.3 learned as fast as 0")


class CopyReleaseConfig(BaseModel):
    """The copy-detection recipe: descriptor, then the hash head on the frozen descriptor."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig = DataConfig()
    num_threads: int | None = None
    descriptor: DescriptorConfig = DescriptorConfig()
    stage2: Stage2Config = Stage2Config()


class StarterConfig(BaseModel):
    """The whole starter recipe: one data section shared by the three stages."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig = DataConfig()
    num_threads: int | None = None
    barlow: BarlowConfig = BarlowConfig()
    stage1: Stage1Config = Stage1Config()
    stage2: Stage2Config = Stage2Config()


C = TypeVar("C", bound=BaseModel)


def load_yaml(path: str | Path) -> dict[str, Any]:
    with Path(path).open() as fh:
        obj = yaml.safe_load(fh) or {}
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: top level must be a mapping")
    return obj


def load_config(path: str | Path, cls: type[C]) -> C:
    """Parse a YAML file into ``cls`` (unknown keys are errors)."""
    return cls.model_validate(load_yaml(path))
