"""Model families: how a checkpoint becomes the served models, behind a registry.

A family loads one checkpoint (or none, for ``toy``) and returns the served models it
yields, each with its tensor names, dynamic axes, sample inputs for export and
verification, and batching defaults. Served names and tensors come from
``vidsearch.contract.models``, the contract with the orchestrator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from vidsearch.contract.models import (
    CLIP_FRAMES,
    FEATURE,
    FRAME_ENCODER,
    FRAMES,
    HASH_TEXTURE_HEADS,
    VIDEO_EMBEDDER,
    ModelContract,
)
from vidsearch.exporters.repository import file_sha256


@dataclass
class ServedModel:
    """One model to export: module, tensor contract, samples and batching defaults."""

    contract: ModelContract
    module: nn.Module
    samples: list[dict[str, np.ndarray]]  # samples[0] is traced; all are verified
    max_batch_size: int
    preferred_batch_size: tuple[int, ...] = ()
    max_queue_delay_us: int = 2000
    warmup_dims: dict[str, tuple[int, ...]] = field(default_factory=dict)  # without batch
    extra_files: dict[str, str] = field(default_factory=dict)  # written beside model.onnx

    @property
    def name(self) -> str:
        return self.contract.name

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.contract.input_names

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.contract.output_names

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return self.contract.dynamic_axes()


@dataclass
class LoadedFamily:
    """What a family loader returns; the metadata goes into provenance.json."""

    family: str
    models: list[ServedModel]
    checkpoint: Path | None = None
    checkpoint_sha256: str | None = None
    training_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    data_version: str | None = None
    checkpoint_model_version: int | None = None


FamilyLoader = Callable[[Path | None, int], LoadedFamily]


@dataclass(frozen=True)
class FamilySpec:
    name: str
    loader: FamilyLoader
    served: tuple[str, ...]
    needs_checkpoint: bool = True
    checkpoint_kind: str | None = None
    description: str = ""


_REGISTRY: dict[str, FamilySpec] = {}


def register_family(spec: FamilySpec) -> None:
    """Add (or replace) a family; later networks plug in here."""
    _REGISTRY[spec.name] = spec


def get_family(name: str) -> FamilySpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known: {sorted(_REGISTRY)}") from None


def family_names() -> list[str]:
    return sorted(_REGISTRY)


def family_for_kind(kind: str) -> FamilySpec:
    """The family that exports checkpoints of ``kind`` (the checkpoint's 'kind' field)."""
    for spec in _REGISTRY.values():
        if spec.checkpoint_kind == kind:
            return spec
    raise KeyError(f"no model family exports checkpoints of kind {kind!r}")


# ---- served model builders (shared by the real and the toy families) ----------------


def _frames(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def frame_encoder_model(module: nn.Module, frame_size: int, seed: int = 0) -> ServedModel:
    rng = np.random.default_rng(seed)
    s = frame_size
    return ServedModel(
        FRAME_ENCODER,
        module=module,
        samples=[{FRAMES.name: _frames(rng, n, s, s)} for n in (2, 1, 5)],
        max_batch_size=64,
        preferred_batch_size=(16, 32, 64),
        warmup_dims={FRAMES.name: (s, s, 3)},
    )


def hash_heads_model(module: nn.Module, feature_dim: int, seed: int = 0) -> ServedModel:
    rng = np.random.default_rng(seed)
    return ServedModel(
        HASH_TEXTURE_HEADS,
        module=module,
        samples=[
            {FEATURE.name: rng.standard_normal((n, feature_dim)).astype(np.float32)}
            for n in (2, 1, 33)
        ],
        # The orchestrator sends all key frames of a video (+1) in one request.
        max_batch_size=4096,
        preferred_batch_size=(64, 256),
        warmup_dims={FEATURE.name: (feature_dim,)},
    )


def video_embedder_model(module: nn.Module, frame_size: int, seed: int = 0) -> ServedModel:
    rng = np.random.default_rng(seed)
    s = frame_size
    return ServedModel(
        VIDEO_EMBEDDER,
        module=module,
        samples=[
            {CLIP_FRAMES.name: _frames(rng, b, t, s, s)} for b, t in ((2, 3), (1, 1), (1, 6))
        ],
        max_batch_size=8,
        preferred_batch_size=(),
        warmup_dims={CLIP_FRAMES.name: (2, s, s, 3)},
    )


# ---- families ---------------------------------------------------------------------


def _load_checkpoint_family(checkpoint: Path | None, seed: int, kind: str) -> LoadedFamily:
    # Imported here: the trainer pulls in the networks, which plain export tooling
    # (repository listing, config checks) does not need.
    from vidsearch.training.checkpoint import load_checkpoint

    if checkpoint is None:
        raise ValueError(f"family for {kind!r} checkpoints needs --checkpoint")
    ckpt = load_checkpoint(checkpoint)
    if ckpt.kind != kind:
        raise ValueError(f"{checkpoint} is a {ckpt.kind!r} checkpoint, not {kind!r}")
    model: Any = ckpt.build_model()
    encoder = model.encoder
    size = int(encoder.input_size)
    if kind == "video_hash":
        family = "video_hash"
        models = [
            frame_encoder_model(encoder, size, seed),
            hash_heads_model(model.heads, int(encoder.feature_dim), seed),
        ]
    else:
        family = "video_embedder"
        models = [video_embedder_model(model, size, seed)]
    return LoadedFamily(
        family=family,
        models=models,
        checkpoint=checkpoint,
        checkpoint_sha256=file_sha256(checkpoint),
        training_config=ckpt.config,
        metrics=ckpt.metrics,
        data_version=ckpt.data_version or None,
        checkpoint_model_version=ckpt.model_version,
    )


def _load_toy(checkpoint: Path | None, seed: int) -> LoadedFamily:
    from vidsearch.exporters import toy

    feature_dim, frame_size = 32, 32
    return LoadedFamily(
        family="toy",
        models=[
            frame_encoder_model(toy.seeded(toy.ToyFrameEncoder, seed), frame_size, seed),
            hash_heads_model(toy.seeded(toy.ToyHashTextureHeads, seed + 1), feature_dim, seed),
            video_embedder_model(toy.seeded(toy.ToyVideoEmbedder, seed + 2), frame_size, seed),
        ],
        training_config={"toy": True, "seed": seed},
        data_version="none",
    )


register_family(
    FamilySpec(
        name="video_hash",
        loader=lambda ckpt, seed: _load_checkpoint_family(ckpt, seed, "video_hash"),
        served=(FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name),
        checkpoint_kind="video_hash",
        description="copy detection: frame encoder + parallel texture/hash heads",
    )
)
register_family(
    FamilySpec(
        name="video_embedder",
        loader=lambda ckpt, seed: _load_checkpoint_family(ckpt, seed, "barlow"),
        served=(VIDEO_EMBEDDER.name,),
        checkpoint_kind="barlow",
        description="recommendations: Barlow-Twins video embedder",
    )
)
register_family(
    FamilySpec(
        name="toy",
        loader=_load_toy,
        served=tuple(m.name for m in (FRAME_ENCODER, HASH_TEXTURE_HEADS, VIDEO_EMBEDDER)),
        needs_checkpoint=False,
        description="tiny seeded stand-ins (no checkpoint): smoke tests and demos",
    )
)

import vidsearch.exporters.caption_families  # noqa: E402  (registers "captions")
import vidsearch.exporters.tag_families  # noqa: E402  (registers "tags")
import vidsearch.exporters.text_families  # noqa: E402,F401  (registers "text_video")
