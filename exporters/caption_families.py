"""Seed 000 export seam: the captioner as two served models, encoder and one-word step.

- ``caption_encoder``: uint8 frames [B,T,S,S,3] -> caption_memory [B,T,H], h [B,H], c [B,H]
  (the semantic frame encoder and the captioner's projection + initial state).
- ``caption_step``: words int64 [B], h, c [B,H], caption_memory [B,T,H], frame_mask [B,T]
  -> log_probs [B,V], h_next, c_next. The state is explicit, so the decoding loop (greedy
  or beam search, ``inference.caption_search``) runs in the orchestrator on either backend.
  Its version folder also holds ``vocabulary.json`` (the words in id order).

Imported for its side effect: ``register_family`` adds the family to the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vidsearch.contract.models import (
    CAPTION_ENCODER,
    CAPTION_MEMORY,
    CAPTION_MODELS,
    CAPTION_STEP,
    CLIP_FRAMES,
    DECODER_C,
    DECODER_H,
    FRAME_MASK,
    WORDS,
)
from vidsearch.contract.repository_layout import SPEECH_LM_FILE, SYNONYMS_FILE, VOCABULARY_FILE
from vidsearch.exporters.families import FamilySpec, LoadedFamily, ServedModel, register_family
from vidsearch.exporters.repository import file_sha256
from vidsearch.networks.captioner import CaptionEncoderModel, Captioner, CaptionStepModel


def caption_encoder_model(module: CaptionEncoderModel, frame_size: int,
                          seed: int = 0) -> ServedModel:
    rng = np.random.default_rng(seed)
    s = frame_size
    return ServedModel(
        CAPTION_ENCODER, module=module,
        samples=[{CLIP_FRAMES.name: rng.integers(0, 256, (b, t, s, s, 3), dtype=np.uint8)}
                 for b, t in ((2, 3), (1, 1), (1, 8))],
        max_batch_size=8, warmup_dims={CLIP_FRAMES.name: (8, s, s, 3)},
    )


def caption_step_model(module: CaptionStepModel, vocabulary: list[str],
                       seed: int = 0, speech_lm: str | None = None,
                       synonyms: dict[str, list[str]] | None = None) -> ServedModel:
    """Samples: a beam (rows of one video) and a batch of videos, one padded frame each."""
    rng = np.random.default_rng(seed)
    cap: Captioner = module.captioner
    hid, vocab = cap.cfg.hidden, cap.cfg.vocab_size

    def sample(b: int, t: int) -> dict[str, np.ndarray]:
        mask = np.ones((b, t), dtype=np.float32)
        mask[-1, t - 1] = 0
        return {WORDS.name: rng.integers(0, vocab, b).astype(np.int64),
                DECODER_H.name: np.tanh(rng.standard_normal((b, hid))).astype(np.float32),
                DECODER_C.name: rng.standard_normal((b, hid)).astype(np.float32),
                CAPTION_MEMORY.name: np.abs(rng.standard_normal((b, t, hid))).astype(np.float32),
                FRAME_MASK.name: mask}

    return ServedModel(
        CAPTION_STEP, module=module,
        samples=[sample(b, t) for b, t in ((5, 8), (1, 2), (12, 24))],
        # one row per beam hypothesis (beam 5) of one or a few videos; words: dims [1] + reshape
        max_batch_size=64, preferred_batch_size=(),
        warmup_dims={WORDS.name: (1,), DECODER_H.name: (hid,), DECODER_C.name: (hid,),
                     CAPTION_MEMORY.name: (8, hid), FRAME_MASK.name: (8,)},
        extra_files={VOCABULARY_FILE: json.dumps(vocabulary) + "\n",
                     **({SPEECH_LM_FILE: speech_lm} if speech_lm is not None else {}),
                     **({SYNONYMS_FILE: json.dumps(synonyms, indent=1) + "\n"}
                        if synonyms is not None else {})},
    )


def speech_language_model(config: dict[str, Any], videos: int | None = None,
                          per_video: int | None = None) -> str:
    """The spoken-query language model (``media.speech``): trigrams of the TRAIN-wording
    captions of the checkpoint's training videos (the split its vocabulary came from;
    default: all of them, each with its ``captions_per_video`` references). A trigram over
    every reference cut the word error rate from 23% to 18.5% against a bigram of 300
    videos x 10 captions (on the spoken queries of `vidsearch eval sentences`)."""
    from vidsearch.media.speech import build_arpa, spoken_words
    from vidsearch.training.caption_data import CaptionDataConfig
    from vidsearch.training.captions import captions_for

    data = CaptionDataConfig.model_validate(config.get("data", {}))
    seeds = list(data.seeds("train"))[:videos]
    per_video = per_video if per_video is not None else data.captions_per_video
    return build_arpa((spoken_words(c) for s in seeds
                       for c in captions_for(s, data.duration_s, per_video)), order=3)


def load_caption_family(checkpoint: Path | None, seed: int) -> LoadedFamily:
    """Both served caption models of a ``captioner`` checkpoint."""
    from vidsearch.training.captioner import load_captioner
    from vidsearch.training.captions import synonym_groups
    from vidsearch.training.checkpoint import load_checkpoint

    if checkpoint is None:
        raise ValueError("family 'captions' needs --checkpoint")
    ckpt = load_checkpoint(checkpoint)
    stored, vocab = load_captioner(ckpt)
    return LoadedFamily(
        family="captions",
        models=[caption_encoder_model(CaptionEncoderModel(stored.frames, stored.captioner),
                                      int(stored.frames.input_size), seed),
                caption_step_model(CaptionStepModel(stored.captioner), list(vocab.words), seed,
                                   speech_lm=speech_language_model(ckpt.config),
                                   synonyms=synonym_groups())],
        checkpoint=checkpoint, checkpoint_sha256=file_sha256(checkpoint),
        training_config=ckpt.config, metrics=ckpt.metrics,
        data_version=ckpt.data_version or None, checkpoint_model_version=ckpt.model_version,
    )


register_family(FamilySpec(
    name="captions", loader=load_caption_family, served=tuple(m.name for m in CAPTION_MODELS),
    checkpoint_kind="captioner",
    description="seed 000: caption encoder (frames -> memory, state), one-word caption step",
))
