"""Seed 003 exporter family ``text_video``: three served models from a text_video checkpoint.

- ``text_encoder``: (input_ids, attention_mask) int64 [B,L] -> token_features [B,L,384],
  text_feature [B,384] (mean pooled; also the keyword encoder: feed each keyword as a
  row and take its text_feature), text_embedding [B,E] (stage 1 query vector).
- ``text_video_embedder``: uint8 frames [B,T,S,S,3] -> embedding [B,E] (stage 1, indexed),
  local_features [B,T,D] (adaptive-weighted, for the fine score), frame_features [B,T,D]
  (temporal features, for text-conditioned pooling). Both per-frame outputs are stored
  with the video (or recomputed) for stage 2.
- ``text_video_scorer``: aligned rows (one query repeated per candidate) -> score, fine,
  coarse [B]; keyword_mask all 0 switches the keyword enhancement off; frame_mask marks
  the real frames of candidates padded to the longest one.

Imported for its side effect: ``register_family`` adds the family to the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor, nn

from vidsearch.contract.models import (
    ATTENTION_MASK,
    CLIP_FRAMES,
    FRAME_FEATURES,
    FRAME_MASK,
    INPUT_IDS,
    KEYWORD_FEATURES,
    KEYWORD_MASK,
    LOCAL_FEATURES,
    TEXT_ENCODER,
    TEXT_FEATURE,
    TEXT_VIDEO_EMBEDDER,
    TEXT_VIDEO_SCORER,
    TOKEN_FEATURES,
    TOKEN_MASK,
)
from vidsearch.contract.repository_layout import TRAINING_WORDING_FILE
from vidsearch.contract.thesaurus import Vocabulary
from vidsearch.exporters.families import FamilySpec, LoadedFamily, ServedModel, register_family
from vidsearch.exporters.repository import file_sha256

if TYPE_CHECKING:
    from vidsearch.networks.text_video import TextHeads

class ServedTextEncoder(nn.Module):
    """MiniLM token/global features + the stage 1 text embedding head."""

    def __init__(self, encoder: nn.Module, embed: TextHeads) -> None:
        super().__init__()
        self.encoder, self.embed = encoder, embed

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        tokens, text = self.encoder(input_ids, attention_mask)
        return tokens, text, self.embed.embedding(text)


def _ids(rng: np.random.Generator, b: int, n: int) -> dict[str, np.ndarray]:
    ids = rng.integers(1000, 30000, size=(b, n), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    mask = np.ones((b, n), dtype=np.int64)
    mask[-1, n // 2:] = 0
    return {INPUT_IDS.name: ids, ATTENTION_MASK.name: mask}


def text_encoder_model(module: nn.Module, embed_dim: int, seed: int = 0,
                       vocabulary: Vocabulary | None = None) -> ServedModel:
    """Served ``text_encoder``; the ``vocabulary`` of its training captions goes beside it
    (``TRAINING_WORDING_FILE``) for the thesaurus that rewrites a query's unseen words."""
    rng = np.random.default_rng(seed)
    return ServedModel(
        TEXT_ENCODER, module=module,
        samples=[_ids(rng, b, n) for b, n in ((2, 12), (1, 5), (4, 30))],
        max_batch_size=64, preferred_batch_size=(8, 32),
        warmup_dims={INPUT_IDS.name: (16,), ATTENTION_MASK.name: (16,)},
        extra_files={} if vocabulary is None else
        {TRAINING_WORDING_FILE: json.dumps(vocabulary.to_json(), indent=0) + "\n"},
    )


def video_model(module: nn.Module, frame_size: int, seed: int = 0) -> ServedModel:
    rng = np.random.default_rng(seed)
    s = frame_size
    return ServedModel(
        TEXT_VIDEO_EMBEDDER, module=module,
        samples=[{CLIP_FRAMES.name: rng.integers(0, 256, (b, t, s, s, 3), dtype=np.uint8)}
                 for b, t in ((2, 3), (1, 1), (1, 6))],
        max_batch_size=8, warmup_dims={CLIP_FRAMES.name: (2, s, s, 3)},
    )


def scorer_model(module: nn.Module, text_dim: int, dim: int, k: int,
                 seed: int = 0) -> ServedModel:
    rng = np.random.default_rng(seed)

    def sample(b: int, n: int, t: int) -> dict[str, np.ndarray]:
        def f32(*shape: int) -> np.ndarray:
            return rng.standard_normal(shape).astype(np.float32)

        tmask = np.ones((b, n), dtype=np.float32)
        tmask[0, n - 1] = 0
        kmask = np.ones((b, k), dtype=np.float32)
        kmask[-1] = 0
        fmask = np.ones((b, t), dtype=np.float32)
        fmask[0, t - 1] = 0
        local = np.abs(f32(b, t, dim)) / dim * fmask[..., None]
        return {TOKEN_FEATURES.name: f32(b, n, text_dim), TOKEN_MASK.name: tmask,
                TEXT_FEATURE.name: f32(b, text_dim), KEYWORD_FEATURES.name: f32(b, k, text_dim),
                KEYWORD_MASK.name: kmask, LOCAL_FEATURES.name: local,
                FRAME_FEATURES.name: f32(b, t, dim), FRAME_MASK.name: fmask}

    return ServedModel(
        TEXT_VIDEO_SCORER, module=module,
        samples=[sample(b, n, t) for b, n, t in ((3, 10, 4), (2, 3, 2), (50, 16, 24))],
        # Stage 2 sends its top-N candidates (query repeated per row) in one request.
        max_batch_size=256, preferred_batch_size=(64,),
        warmup_dims={TOKEN_FEATURES.name: (16, text_dim), TOKEN_MASK.name: (16,),
                     TEXT_FEATURE.name: (text_dim,), KEYWORD_FEATURES.name: (k, text_dim),
                     KEYWORD_MASK.name: (k,), LOCAL_FEATURES.name: (8, dim),
                     FRAME_FEATURES.name: (8, dim), FRAME_MASK.name: (8,)},
    )


def load_text_video_family(checkpoint: Path | None, seed: int) -> LoadedFamily:
    from vidsearch.training.captions import training_vocabulary
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.text_video import load_text_video

    if checkpoint is None:
        raise ValueError("family 'text_video' needs --checkpoint")
    ckpt = load_checkpoint(checkpoint)
    model: Any = load_text_video(ckpt)
    cfg = model.cfg
    models = [
        text_encoder_model(ServedTextEncoder(model.text_encoder, model.scorer.text),
                           cfg.embed_dim, seed, training_vocabulary()),
        video_model(model.video, int(model.video.encoder.input_size), seed),
        scorer_model(model.scorer, cfg.text_dim, cfg.dim, cfg.keywords, seed),
    ]
    return LoadedFamily(
        family="text_video", models=models, checkpoint=checkpoint,
        checkpoint_sha256=file_sha256(checkpoint), training_config=ckpt.config,
        metrics=ckpt.metrics, data_version=ckpt.data_version or None,
        checkpoint_model_version=ckpt.model_version,
    )


register_family(FamilySpec(
    name="text_video", loader=load_text_video_family,
    served=tuple(m.name for m in (TEXT_ENCODER, TEXT_VIDEO_EMBEDDER, TEXT_VIDEO_SCORER)),
    checkpoint_kind="text_video",
    description="seed 003: MiniLM text encoder, video side, text-conditioned scorer",
))
