"""Near-duplicate training: stage 1 (Formula 1) and stage 2 (Formulas 2-7 or 2+8).

Every step draws one similar-sample set: B pairs (anchor frame lightly augmented,
positive = heavily augmented copy of the same or a neighbouring frame), each pair used
in both directions (an augmented query must find its clean original and vice versa).
Triplets are mined inside the set with the seed's k%/m rule on texture distances,
excluding frames of the anchor's own video.

Stage 1 trains image + texture sub-models with Formula 1 until the epoch loss is under
``loss_threshold`` (or ``max_epochs``). Stage 2 trains the texture sub-model by Formula 2
on detached image features, and image + quantization sub-models by the quantization
loss: Formula 7 with Formula 3 margins, Formula 8, or Formula 7 with a fixed margin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from vidsearch.networks.video_hash import VideoHashModel, build_video_hash_model
from vidsearch.training import losses as L
from vidsearch.training.augment import augment_frames
from vidsearch.training.checkpoint import Checkpoint, load_checkpoint
from vidsearch.training.common import (
    MetricsLog,
    adamw,
    lr_at,
    metrics_path,
    set_lr,
    set_threads,
    try_resume,
    write_checkpoint,
)
from vidsearch.training.config import DescriptorConfig, Stage1Config, Stage2Config
from vidsearch.training.data import Corpus, render_corpus, sample_pairs, to_float
from vidsearch.training.metrics import build_eval_set, evaluate_hash_model
from vidsearch.training.mining import mine_triplets

StepFn = Callable[[VideoHashModel, Tensor, Tensor, Tensor], dict[str, Tensor]]


def similar_set(corpus: Corpus, cfg: Stage1Config | Stage2Config | DescriptorConfig,
                gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """One similar-sample set: frames [2B,3,S,S], pairs [2B,2] (both ways), groups [2B]."""
    a, p, vid = sample_pairs(corpus, cfg.batch_size, gen, cfg.temporal_jitter_p)
    size = cfg.data.frame_size
    xa = augment_frames(to_float(a), cfg.anchor_augment, gen, size)
    xp = augment_frames(to_float(p), cfg.augment, gen, size)
    b = len(vid)
    i = torch.arange(b)
    pairs = torch.cat([torch.stack([i, i + b], 1), torch.stack([i + b, i], 1)])
    return torch.cat([xa, xp]), pairs, torch.cat([vid, vid])


def stage1_losses(cfg: Stage1Config) -> StepFn:
    def step(model: VideoHashModel, x: Tensor, pairs: Tensor,
             groups: Tensor) -> dict[str, Tensor]:
        tex = model.heads.texture_features(model.encoder.forward_float(x))
        tri = mine_triplets(tex, pairs, cfg.k_percent, cfg.m, groups)
        l_em = L.formula1_texture_triplet(tex[tri[:, 0]], tex[tri[:, 1]], tex[tri[:, 2]],
                                          cfg.margin_em)
        return {"loss": l_em, "l_em": l_em}
    return step


def stage2_losses(cfg: Stage2Config) -> StepFn:
    def step(model: VideoHashModel, x: Tensor, pairs: Tensor,
             groups: Tensor) -> dict[str, Tensor]:
        if cfg.train_encoder:
            feats = model.encoder.forward_float(x)
        else:  # frozen descriptor: batch statistics must not drift either
            model.encoder.eval()
            with torch.no_grad():
                feats = model.encoder.forward_float(x)
        tex = model.heads.texture_features(feats if cfg.texture_to_backbone else feats.detach())
        u = model.heads.quant_logits(feats)
        tri = mine_triplets(tex, pairs, cfg.k_percent, cfg.m, groups)
        a, p, n = tri[:, 0], tri[:, 1], tri[:, 2]
        l_em_i = L.formula2_texture_triplet(tex[a], tex[p], tex[n], cfg.margin_em, "none")
        l_coding = L.formula6_coding_loss(u)
        if cfg.quant_loss == "formula8":
            margin8 = (L.formula8_margin(cfg.margin_em, cfg.margin0, cfg.m_em)
                       if cfg.formula8_margin is None else cfg.formula8_margin)
            l_trip_i = L.formula4_quant_triplet(u[a], u[p], u[n], margin8, "none")
            l_q = L.formula8_quant_loss(l_em_i, l_trip_i, l_coding, cfg.w21, cfg.w22, cfg.m_em)
        else:
            margin: Tensor | float = cfg.fixed_margin
            if cfg.quant_loss == "formula7":
                margin = L.formula3_adaptive_margin(l_em_i, cfg.margin0, cfg.m_em).clamp(
                    min=cfg.margin_min, max=cfg.margin_max)
            l_trip_i = L.formula4_quant_triplet(u[a], u[p], u[n], margin, "none")
            l_q = L.formula7_quant_loss(l_trip_i.mean(), l_coding, cfg.w21, cfg.w22)
        l_em = l_em_i.mean()
        out = {"loss": l_em + l_q, "l_em": l_em, "l_q": l_q, "l_triplet": l_trip_i.mean(),
               "l_coding": l_coding}
        if cfg.w_distill > 0:  # documented addition, see losses.rank_distill_loss
            out["l_distill"] = L.rank_distill_loss(u, tex)
            out["loss"] = out["loss"] + cfg.w_distill * out["l_distill"]
        return out
    return step


def train_loop(cfg: Stage1Config | Stage2Config | DescriptorConfig, out: Path,
               model: VideoHashModel, params: list[torch.nn.Parameter], step_fn: StepFn,
               done: Callable[[dict], bool], resume: bool, corpus: Corpus | None,
               val: Corpus | None, progress: bool) -> Checkpoint | None:
    """Shared epoch loop of the hash + texture trainers: similar sets, logging, checkpoints."""
    name = cfg.kind
    opt = adamw(params, cfg.lr, cfg.weight_decay)
    state = try_resume(out, model, opt, resume)
    if state.stop_reason == "threshold" or state.epoch >= cfg.max_epochs:
        tqdm.write(f"{out}: already finished ({state.stop_reason or 'max_epochs'})")
        return None
    corpus = corpus if corpus is not None else render_corpus(cfg.data, "train", progress)
    val = val if val is not None else render_corpus(cfg.data, "val", progress)
    eval_set = build_eval_set(val, cfg.eval_queries, cfg.augment)
    log = MetricsLog(metrics_path(out), name)
    total = cfg.max_epochs * cfg.steps_per_epoch
    ck: Checkpoint | None = None
    for epoch in range(state.epoch, cfg.max_epochs):
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        t0, sums = time.monotonic(), dict[str, float]()
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"{name} {epoch + 1}/{cfg.max_epochs}",
                   disable=not progress, leave=False)
        for _ in bar:
            set_lr(opt, lr_at(state.step, total, cfg.lr, cfg.warmup_steps))
            x, pairs, groups = similar_set(corpus, cfg, gen)
            vals = step_fn(model, x, pairs, groups)
            opt.zero_grad(set_to_none=True)
            vals["loss"].backward()
            opt.step()
            state.step += 1
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            bar.set_postfix(loss=f"{float(vals['loss'].detach()):.4f}")
        state.epoch = epoch + 1
        record: dict = {"epoch": state.epoch, "step": state.step,
                        **{k: v / cfg.steps_per_epoch for k, v in sums.items()},
                        "train_seconds": round(time.monotonic() - t0, 2)}
        record.update(evaluate_hash_model(model, eval_set))
        state.history.append(record)
        log.write(record)
        finished = done(record)
        if finished or state.epoch >= cfg.max_epochs:
            state.stop_reason = "threshold" if finished else "max_epochs"
        ck = write_checkpoint(out, "video_hash", model, opt, cfg.model_dump(mode="json"),
                              corpus.data_version, state, cfg.model_version)
        if finished:
            break
    return ck


def train_stage1(cfg: Stage1Config, out: str | Path, *, resume: bool = False,
                 corpus: Corpus | None = None, val: Corpus | None = None,
                 progress: bool = True) -> Checkpoint | None:
    """Stage 1: image + texture sub-models by Formula 1 (quantization head untouched).

    ``cfg.init_from`` (a Barlow checkpoint) initialises the image sub-model.
    """
    set_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    model = build_video_hash_model(cfg.model)
    if cfg.init_from and not (resume and Path(out).exists()):
        init_encoder_from_barlow(model, cfg.init_from)
    params = [*model.encoder.parameters(), *model.heads.texture.parameters()]
    return train_loop(cfg, Path(out), model, params, stage1_losses(cfg),
                lambda r: r["l_em"] < cfg.loss_threshold, resume, corpus, val, progress)


def train_stage2(cfg: Stage2Config, out: str | Path, *, resume: bool = False,
                 corpus: Corpus | None = None, val: Corpus | None = None,
                 progress: bool = True) -> Checkpoint | None:
    """Stage 2: joint fine-tuning from the stage 1 checkpoint ``cfg.init_from``."""
    model = start_video_hash_model(cfg, Path(out), resume)
    params = list(model.parameters())
    if not cfg.train_encoder:  # the descriptor stays as trained: only the hash head learns
        for p in [*model.encoder.parameters(), *model.heads.texture.parameters()]:
            p.requires_grad_(False)
        params = list(model.heads.quant.parameters())
    return train_loop(cfg, Path(out), model, params, stage2_losses(cfg),
                lambda r: r["l_em"] < cfg.texture_threshold and r["l_q"] < cfg.quant_threshold,
                resume, corpus, val, progress)


def start_video_hash_model(cfg: Stage2Config | DescriptorConfig, out: Path,
                           resume: bool) -> VideoHashModel:
    """A seeded model for a trainer, continuing the video_hash checkpoint ``cfg.init_from``
    (ignored when resuming ``out``, which then brings its own weights)."""
    set_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    model = build_video_hash_model(cfg.model)
    if cfg.init_from and not (resume and out.exists()):
        ck = load_checkpoint(cfg.init_from)
        if ck.kind != "video_hash":
            raise ValueError(f"{cfg.init_from}: expected a video_hash checkpoint, got {ck.kind}")
        model.load_state_dict(ck.state_dict, strict=True)
    return model


def init_encoder_from_barlow(model: VideoHashModel, path: str | Path) -> None:
    """Copy the Barlow-pretrained frame encoder into the hash + texture image sub-model."""
    ck = load_checkpoint(path)
    if ck.kind != "barlow":
        raise ValueError(f"{path}: expected a barlow checkpoint, got {ck.kind}")
    prefix = "encoder."
    enc = {k[len(prefix):]: v for k, v in ck.state_dict.items() if k.startswith(prefix)}
    model.encoder.load_state_dict(enc, strict=True)
