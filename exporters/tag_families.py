"""Seed 004 export seam: the tag encoder and the video tag encoder as served models.

- ``tag_encoder``: (input_ids, attention_mask) int64 [B,L] -> tag_embedding [B,D].
- ``video_tag_encoder``: uint8 frames [B,T,S,S,3] -> tag_feature [B,D] and
  scene_tag_features [B,scenes,D] (frames only: the contract has no MFCC or title input
  yet, so those modalities are served as missing).

``tag_family`` wraps both for ``pipeline.export_models`` (export, ONNX Runtime verification
against torch, contract check); the family ``tags`` exports a ``tags`` checkpoint
(``vidsearch train tags``), so ``vidsearch export starter`` picks up models/starter/tags.pt.

Imported for its side effect: ``register_family`` adds the family to the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from vidsearch.contract.models import (
    ATTENTION_MASK,
    CLIP_FRAMES,
    INPUT_IDS,
    TAG_ENCODER,
    TAG_MODELS,
    VIDEO_TAG_ENCODER,
)
from vidsearch.contract.repository_layout import TRAINING_TAGS_FILE
from vidsearch.exporters.families import FamilySpec, LoadedFamily, ServedModel, register_family
from vidsearch.exporters.repository import file_sha256


def tag_encoder_model(module: nn.Module, seed: int = 0,
                      training_tags: list[str] | None = None) -> ServedModel:
    """Served ``tag_encoder``; samples include a padded row (tags differ in length). The
    ``training_tags`` texts go beside it (``TRAINING_TAGS_FILE``) for the thesaurus."""
    rng = np.random.default_rng(seed)

    def sample(b: int, n: int) -> dict[str, np.ndarray]:
        ids = rng.integers(1000, 30000, size=(b, n), dtype=np.int64)
        ids[:, 0], ids[:, -1] = 101, 102
        mask = np.ones((b, n), dtype=np.int64)
        mask[-1, n // 2:] = 0
        return {INPUT_IDS.name: ids, ATTENTION_MASK.name: mask}

    return ServedModel(
        TAG_ENCODER, module=module,
        samples=[sample(b, n) for b, n in ((3, 6), (1, 4), (8, 12))],
        # Re-embedding the whole library sends tags in large batches.
        max_batch_size=256, preferred_batch_size=(64, 256),
        warmup_dims={INPUT_IDS.name: (8,), ATTENTION_MASK.name: (8,)},
        extra_files={} if training_tags is None else
        {TRAINING_TAGS_FILE: json.dumps(training_tags, indent=0) + "\n"},
    )


def video_tag_encoder_model(module: nn.Module, frame_size: int, seed: int = 0) -> ServedModel:
    rng = np.random.default_rng(seed)
    s = frame_size
    return ServedModel(
        VIDEO_TAG_ENCODER, module=module,
        samples=[{CLIP_FRAMES.name: rng.integers(0, 256, (b, t, s, s, 3), dtype=np.uint8)}
                 for b, t in ((2, 3), (1, 1), (1, 8))],
        max_batch_size=8, warmup_dims={CLIP_FRAMES.name: (8, s, s, 3)},
    )


def tag_family(tag_encoder: nn.Module, video_tag_encoder: nn.Module, frame_size: int, *,
               seed: int = 0, training_config: dict[str, Any] | None = None,
               checkpoint: Path | None = None,
               training_tags: list[str] | None = None) -> LoadedFamily:
    """Both tag models as one family, exported under one version by ``export_models``."""
    return LoadedFamily(
        family="tags",
        models=[tag_encoder_model(tag_encoder, seed, training_tags),
                video_tag_encoder_model(video_tag_encoder, frame_size, seed)],
        checkpoint=checkpoint, training_config=dict(training_config or {}),
    )


def load_tags_family(checkpoint: Path | None, seed: int) -> LoadedFamily:
    """Both served tag models of a ``tags`` checkpoint (MiniLM attached from its package)."""
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.tag_training import load_tag_model
    from vidsearch.training.tags import TRAIN_TAGS

    if checkpoint is None:
        raise ValueError("family 'tags' needs --checkpoint")
    ckpt = load_checkpoint(checkpoint)
    model = load_tag_model(ckpt)
    family = tag_family(model.tag_encoder(), model.video_tag_encoder(),
                        int(model.semantic.input_size), seed=seed,
                        training_config=ckpt.config, checkpoint=checkpoint,
                        training_tags=[t.text for t in TRAIN_TAGS])
    family.checkpoint_sha256 = file_sha256(checkpoint)
    family.metrics = ckpt.metrics
    family.data_version = ckpt.data_version or None
    family.checkpoint_model_version = ckpt.model_version
    return family


register_family(FamilySpec(
    name="tags", loader=load_tags_family, served=tuple(m.name for m in TAG_MODELS),
    checkpoint_kind="tags",
    description="seed 004: tag encoder (MiniLM + projection), video tag encoder (frames)",
))
