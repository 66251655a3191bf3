"""Text-search heads training: captioned generated videos, symmetric InfoNCE.

CPU budget: the frame encoder (a semantic or copy-descriptor checkpoint) and the MiniLM
text encoder are FROZEN (the patent fine-tunes CLIP; we cannot afford it on 2 cores), so frame
features, token/global text features and keyword features are computed once and the
text-search heads train on them. Losses (all symmetric InfoNCE over the batch):
text-conditioned score (fine + coarse) + stage 1 joint embedding + mean-pool baseline.
Held-out split: the DataConfig validation seeds, every caption of each video.
The checkpoint leaves out the text encoder: it is pinned to the MiniLM package files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor
from tqdm import tqdm

from vidsearch.networks.keywords import KeywordExtractor
from vidsearch.networks.text_encoder import (
    TextEncoder,
    load_tokenizer,
    tokenize,
    tokenize_keywords,
)
from vidsearch.networks.text_video import TextVideoConfig, TextVideoModel, build_text_video_model
from vidsearch.training.caption_augment import augmented_captions, dropped_captions
from vidsearch.training.captions import captions_for, held_out_captions
from vidsearch.training.checkpoint import Checkpoint, load_checkpoint
from vidsearch.training.common import (
    TEXT_MODEL,
    MetricsLog,
    adamw,
    feature_cache_file,
    lr_at,
    metrics_path,
    set_lr,
    set_threads,
    try_resume,
    write_checkpoint,
)
from vidsearch.training.config import DataConfig
from vidsearch.training.data import Corpus, render_corpus


class TextVideoTrainConfig(BaseModel):
    """`vidsearch train text-video` (configs/training/text_video.yaml)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["text_video"] = "text_video"
    data: DataConfig = DataConfig(cache_dir="var/train_cache")
    model: TextVideoConfig = TextVideoConfig()
    init_frame_encoder: str | None = Field(
        default=None, description="video_hash/barlow checkpoint whose frame encoder is used")
    captions_per_video: int = Field(default=5, ge=1)
    extra_captions_per_video: int = Field(
        default=0, ge=0, description="training only: captions per video in caption_augment's "
        "EXTRA wording (more synonyms and templates, none of them held-out wording)")
    dropped_captions_per_video: int = Field(
        default=0, ge=0, description="training only: TRAIN captions per video with "
        "``word_dropout`` of their words dropped")
    word_dropout: float = Field(default=0.15, ge=0, lt=1)
    max_tokens: int = Field(default=64, ge=8)
    batch_size: int = Field(default=32, ge=2)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup_steps: int = Field(default=20, ge=0)
    steps_per_epoch: int = Field(default=50, ge=1)
    max_epochs: int = Field(default=4, ge=1)
    stage1_weight: float = Field(default=1.0, ge=0)
    meanpool_weight: float = Field(default=0.5, ge=0)
    feature_noise: float = Field(default=0.0, ge=0, description="Gaussian noise on frozen "
                                 "features, in units of their std (regularises the heads)")
    rerank_n: int = Field(default=10, ge=1, description="stage 2 candidates in evaluation")
    feature_cache: str | None = Field(
        default=None, description="directory caching the frozen frame/text features")
    seed: int = 0
    num_threads: int | None = Field(default=1, ge=1)
    model_version: int = Field(default=1, ge=1)


@dataclass
class TextSet:
    """Frozen text features of captions: tokens, masks, global, keywords; video of each."""

    tokens: Tensor
    mask: Tensor
    text: Tensor
    keywords: Tensor
    kw_mask: Tensor
    video: Tensor
    captions: list[str]

    def rows(self, idx: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return (self.tokens[idx], self.mask[idx], self.text[idx], self.keywords[idx],
                self.kw_mask[idx])


@torch.no_grad()
def encode_texts(encoder: TextEncoder, tokenizer: Any, captions: list[str], video: Tensor,
                 cfg: TextVideoTrainConfig, batch: int = 64) -> TextSet:
    """MiniLM features of captions and of their KeyBERT keywords (shared encoder)."""
    kws = KeywordExtractor(cfg.model.keywords, cfg.model.keyword_words).extract(captions)
    ids, mask = tokenize(tokenizer, captions, cfg.max_tokens)
    tokens, text, kwf, kwm = [], [], [], []
    for i in range(0, len(captions), batch):
        t, g = encoder(ids[i:i + batch], mask[i:i + batch])
        tokens.append(t)
        text.append(g)
        kid, ktm, km = tokenize_keywords(tokenizer, kws[i:i + batch], cfg.model.keywords)
        kwf.append(encoder.encode_keywords(kid, ktm))
        kwm.append(km)
    return TextSet(torch.cat(tokens), mask, torch.cat(text), torch.cat(kwf), torch.cat(kwm),
                   video, captions)


def caption_set(corpus_seeds: range, cfg: TextVideoTrainConfig, *, held_out: bool = False,
                augmented: bool = False) -> tuple[list[str], Tensor]:
    """Captions of each video in order (the same number for every video) and the video
    index of each caption.

    ``held_out``: the wording the model never trains on (held-out paraphrases and one
    compositional query per video), for validation and benchmarks. ``augmented``
    (training): also the EXTRA-wording and word-dropped captions of ``caption_augment``."""
    caps, vids = [], []
    for v, seed in enumerate(corpus_seeds):
        n, dur = cfg.captions_per_video, cfg.data.duration_s
        if held_out:
            mine = held_out_captions(seed, dur, n)
        else:
            mine = captions_for(seed, dur, n)
            if augmented:
                mine += augmented_captions(seed, dur, cfg.extra_captions_per_video)
                mine += dropped_captions(seed, dur, cfg.dropped_captions_per_video,
                                         cfg.word_dropout)
        caps += mine
        vids += [v] * len(mine)
    return caps, torch.tensor(vids)


@torch.no_grad()
def frame_features(model: TextVideoModel, corpus: Corpus, videos: int = 8) -> Tensor:
    """Frozen frame encoder (+ colour histogram) over the 1-fps frames -> [V,T,F]."""
    frames = corpus.sampled()
    model.video.encoder.eval()
    out = [model.video.frame_features(frames[i:i + videos])
           for i in range(0, len(frames), videos)]
    return torch.cat(out)


def info_nce(logits: Tensor) -> Tensor:
    """Symmetric InfoNCE: row i's positive is column i (text->video and video->text)."""
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def step_losses(model: TextVideoModel, feats: Tensor, texts: TextSet, idx: Tensor,
                cfg: TextVideoTrainConfig) -> dict[str, Tensor]:
    """One batch: captions ``idx`` (one per distinct video) against their videos."""
    tok, mask, text, kw, kwm = texts.rows(idx)
    x = feats[texts.video[idx]]
    if cfg.feature_noise > 0 and model.training:
        x = x + cfg.feature_noise * x.std() * torch.randn_like(x)
        tok = tok + cfg.feature_noise * tok.std() * torch.randn_like(tok)
    emb, local, f, _ = model.video.from_features(x)
    scale = model.logit_scale.exp().clamp(max=100.0)
    l_score = info_nce(model.score_matrix(tok, mask, text, kw, kwm, local, f) * scale)
    l_stage1 = info_nce(model.scorer.text.embedding(text) @ emb.T * 20.0)
    l_mean = info_nce(model.mean_pool_similarity(text, f) * 20.0)
    loss = l_score + cfg.stage1_weight * l_stage1 + cfg.meanpool_weight * l_mean
    return {"loss": loss, "l_score": l_score, "l_stage1": l_stage1, "l_mean": l_mean}


def sample_batch(texts: TextSet, n_videos: int, batch: int, gen: torch.Generator) -> Tensor:
    """Distinct videos, one random caption of each (no false negatives in the batch)."""
    vids = torch.randperm(n_videos, generator=gen)[: min(batch, n_videos)]
    per = len(texts.video) // n_videos
    return vids * per + torch.randint(per, (len(vids),), generator=gen)


def load_text_video(path: str | Path | Checkpoint) -> TextVideoModel:
    """Checkpoint -> model with the MiniLM text encoder attached (eval mode)."""
    ck = path if isinstance(path, Checkpoint) else load_checkpoint(path)
    if ck.kind != "text_video":
        raise ValueError(f"expected a text_video checkpoint, got {ck.kind}")
    model = build_text_video_model(ck.config)
    missing, unexpected = model.load_state_dict(ck.state_dict, strict=False)
    if unexpected or any(not k.startswith("text_encoder.") for k in missing):
        raise ValueError(f"checkpoint does not match: {missing=} {unexpected=}")
    return model.eval()


def _init_frame_encoder(model: TextVideoModel, path: str) -> None:
    """Frozen frame encoder from a semantic checkpoint (whole), a text_video checkpoint's
    ``video.encoder.*`` (new heads on a shipped encoder: tags and captions trained on that
    encoder stay valid) or a trunk's ``encoder.*``."""
    ck = load_checkpoint(path)
    prefix = "video.encoder." if ck.kind == "text_video" else "encoder."
    semantic = ck.kind == "semantic" or (
        ck.kind == "text_video" and ck.config.get("model", {}).get("visual") == "semantic")
    if semantic != (model.cfg.visual == "semantic"):
        raise ValueError(f"{path} is a {ck.kind} checkpoint; model.visual is "
                         f"{model.cfg.visual!r}")
    enc = ck.state_dict if ck.kind == "semantic" else {
        k[len(prefix):]: v for k, v in ck.state_dict.items() if k.startswith(prefix)}
    model.video.encoder.load_state_dict(enc, strict=True)


class _HeadsOnly(torch.nn.Module):
    """What the checkpoint stores: everything but the pinned text encoder."""

    def __init__(self, model: TextVideoModel) -> None:
        super().__init__()
        self.video, self.scorer, self.logit_scale = model.video, model.scorer, model.logit_scale


def _data_version(cfg: TextVideoTrainConfig, frames_version: str) -> str:
    out = f"{frames_version}+captions{cfg.captions_per_video}"
    if cfg.extra_captions_per_video or cfg.dropped_captions_per_video:
        out += (f"+extra{cfg.extra_captions_per_video}+dropped"
                f"{cfg.dropped_captions_per_video}x{cfg.word_dropout:g}")
    return out


def _cache_path(cfg: TextVideoTrainConfig, prefix: str, key: list[Any]) -> Path | None:
    return feature_cache_file(cfg.feature_cache, prefix, key) if cfg.feature_cache else None


def _cached_features(model: TextVideoModel, cfg: TextVideoTrainConfig, train: Corpus,
                     val: Corpus) -> tuple[Tensor, Tensor, TextSet, TextSet]:
    """Frozen features, computed once: frames per (data, frame encoder), captions per
    (wording, caption settings), so a new wording does not re-encode every frame."""
    import inspect

    from vidsearch.training import caption_augment, captions, facts

    enc = cfg.init_frame_encoder
    frames_path = _cache_path(cfg, "frames", [
        train.data_version, val.data_version, enc, Path(enc).stat().st_mtime if enc else None,
        cfg.model.visual, cfg.model.semantic.model_dump(), cfg.model.backbone.model_dump(),
        cfg.model.colour_bins])
    if frames_path is not None and frames_path.exists():
        obj = torch.load(frames_path, weights_only=True)
        feats, val_feats = obj["feats"], obj["val_feats"]
    else:
        feats, val_feats = frame_features(model, train), frame_features(model, val)
        if frames_path is not None:
            frames_path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"feats": feats, "val_feats": val_feats}, frames_path)
    d = cfg.data
    texts_path = _cache_path(cfg, "texts", [
        d.seed_start, d.n_videos, d.val_seed_start, d.n_val_videos, d.duration_s,
        cfg.captions_per_video, cfg.model.keywords, cfg.model.keyword_words, cfg.max_tokens,
        cfg.extra_captions_per_video, cfg.dropped_captions_per_video, cfg.word_dropout,
        inspect.getsource(captions), inspect.getsource(facts), inspect.getsource(caption_augment)])
    if texts_path is not None and texts_path.exists():
        obj = torch.load(texts_path, weights_only=True)
        return feats, val_feats, TextSet(**obj["texts"]), TextSet(**obj["val_texts"])
    assert model.text_encoder is not None
    tokenizer = load_tokenizer()
    texts = encode_texts(model.text_encoder, tokenizer, *caption_set(
        range(d.seed_start, d.seed_start + d.n_videos), cfg, augmented=True), cfg)
    val_texts = encode_texts(model.text_encoder, tokenizer, *caption_set(
        range(d.val_seed_start, d.val_seed_start + d.n_val_videos), cfg, held_out=True), cfg)
    if texts_path is not None:
        texts_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"texts": vars(texts), "val_texts": vars(val_texts)}, texts_path)
    return feats, val_feats, texts, val_texts


def train_text_video(cfg: TextVideoTrainConfig, out: str | Path, *, resume: bool = False,
                     progress: bool = True) -> tuple[Checkpoint | None, dict[str, Any]]:
    """Train the text-search heads; returns the last checkpoint and the held-out metrics."""
    from vidsearch.training.text_video_metrics import evaluate_text_video

    set_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    out = Path(out)
    model = build_text_video_model(cfg.model)
    if cfg.init_frame_encoder:
        _init_frame_encoder(model, cfg.init_frame_encoder)
    heads = _HeadsOnly(model)
    params = [p for n, p in heads.named_parameters() if not n.startswith("video.encoder.")]
    opt = adamw(params, cfg.lr, cfg.weight_decay)
    state = try_resume(out, heads, opt, resume)
    if state.epoch >= cfg.max_epochs:
        return None, dict(state.history[-1]) if state.history else {}
    t0 = time.monotonic()
    train, val = (render_corpus(cfg.data, s, progress) for s in ("train", "val"))
    feats, val_feats, texts, val_texts = _cached_features(model, cfg, train, val)
    tqdm.write(f"features ready in {time.monotonic() - t0:.1f}s")
    log = MetricsLog(metrics_path(out), cfg.kind)
    total = cfg.max_epochs * cfg.steps_per_epoch
    ck: Checkpoint | None = None
    metrics: dict[str, Any] = {}
    for epoch in range(state.epoch, cfg.max_epochs):
        model.train()
        model.video.encoder.eval()
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        sums: dict[str, float] = {}
        t1 = time.monotonic()
        for _ in tqdm(range(cfg.steps_per_epoch), desc=f"text_video {epoch + 1}",
                      disable=not progress, leave=False):
            set_lr(opt, lr_at(state.step, total, cfg.lr, cfg.warmup_steps))
            idx = sample_batch(texts, train.n_videos, cfg.batch_size, gen)
            vals = step_losses(model, feats, texts, idx, cfg)
            opt.zero_grad(set_to_none=True)
            vals["loss"].backward()
            opt.step()
            state.step += 1
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
        state.epoch = epoch + 1
        metrics = evaluate_text_video(model, val_feats, val_texts, cfg.rerank_n)
        record = {"epoch": state.epoch, "step": state.step,
                  **{k: v / cfg.steps_per_epoch for k, v in sums.items()},
                  "train_seconds": round(time.monotonic() - t1, 2), **metrics}
        state.history.append(record)
        log.write(record)
        state.stop_reason = "max_epochs" if state.epoch >= cfg.max_epochs else None
        config = {**cfg.model_dump(mode="json"), "text_model": TEXT_MODEL}
        ck = write_checkpoint(out, "text_video", heads, opt, config,
                              _data_version(cfg, train.data_version),
                              state, cfg.model_version)
    return ck, metrics
