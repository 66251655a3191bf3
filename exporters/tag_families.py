"""Seed 004 export seam: the tag encoder and the video tag encoder as served models.

- ``tag_encoder``: (input_ids, attention_mask) int64 [B,L] -> tag_embedding [B,D].
- ``video_tag_encoder``: uint8 frames [B,T,S,S,3] -> tag_feature [B,D] (frames only: the
  contract has no MFCC or title input yet, so those modalities are served as missing).

``tag_family`` wraps both for ``pipeline.export_models`` (export, ONNX Runtime verification
against torch, contract check). No family is registered yet: there is no tag checkpoint
kind to load from until tag training lands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from vidsearch.contract.models import (
    ATTENTION_MASK,
    CLIP_FRAMES,
    INPUT_IDS,
    TAG_ENCODER,
    VIDEO_TAG_ENCODER,
)
from vidsearch.exporters.families import LoadedFamily, ServedModel


def tag_encoder_model(module: nn.Module, seed: int = 0) -> ServedModel:
    """Served ``tag_encoder``; samples include a padded row (tags differ in length)."""
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
               checkpoint: Path | None = None) -> LoadedFamily:
    """Both tag models as one family, exported under one version by ``export_models``."""
    return LoadedFamily(
        family="tags",
        models=[tag_encoder_model(tag_encoder, seed),
                video_tag_encoder_model(video_tag_encoder, frame_size, seed)],
        checkpoint=checkpoint, training_config=dict(training_config or {}),
    )
