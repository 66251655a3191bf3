"""Barlow Twins pre-training: Barlow Twins on pairs of clips of the same video.

Per batch: for each video two random clips of ``clip_len`` 1-fps frames, each clip
augmented with ONE random draw shared by all its frames (the Barlow Twins patent: "the same random
crop, resize, flip, colour jitter, greyscale, Gaussian blur" for s1 and s2), encoded,
temporally mean-pooled and projected to z1, z2; loss = Barlow Twins with lambda 0.001.
Stops when the epoch loss is under ``loss_threshold`` (if set) or at ``max_epochs``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from tqdm import tqdm

from vidsearch.networks.barlow import build_video_embedder
from vidsearch.training.augment import augment_clips
from vidsearch.training.checkpoint import Checkpoint
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
from vidsearch.training.config import BarlowConfig
from vidsearch.training.data import Corpus, render_corpus, sample_clip_pairs, to_float
from vidsearch.training.losses import barlow_twins_loss


def train_barlow(cfg: BarlowConfig, out: str | Path, *, resume: bool = False,
                 corpus: Corpus | None = None, progress: bool = True) -> Checkpoint | None:
    """Train (or resume) and write ``out`` after every epoch; returns the last checkpoint.

    Returns None only when resuming a run that had already finished.
    """
    out = Path(out)
    set_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    model = build_video_embedder(cfg.model)
    opt = adamw(model.parameters(), cfg.lr, cfg.weight_decay)
    state = try_resume(out, model, opt, resume)
    if state.stop_reason == "threshold" or state.epoch >= cfg.max_epochs:
        tqdm.write(f"{out}: already finished ({state.stop_reason or 'max_epochs'})")
        return None
    corpus = corpus if corpus is not None else render_corpus(cfg.data, "train", progress)
    log = MetricsLog(metrics_path(out), "barlow")
    total = cfg.max_epochs * cfg.steps_per_epoch
    ck: Checkpoint | None = None
    model.train()
    for epoch in range(state.epoch, cfg.max_epochs):
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        t0, losses = time.monotonic(), []
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"barlow {epoch + 1}/{cfg.max_epochs}",
                   disable=not progress, leave=False)
        for _ in bar:
            set_lr(opt, lr_at(state.step, total, cfg.lr, cfg.warmup_steps))
            c1, c2, _ = sample_clip_pairs(corpus, cfg.batch_size, cfg.clip_len, gen)
            x1 = augment_clips(to_float(c1), cfg.augment, gen, cfg.data.frame_size)
            x2 = augment_clips(to_float(c2), cfg.augment, gen, cfg.data.frame_size)
            loss = barlow_twins_loss(model.forward_float(x1), model.forward_float(x2), cfg.lambd)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state.step += 1
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.1f}")
        state.epoch = epoch + 1
        record = {"epoch": state.epoch, "step": state.step, "loss": sum(losses) / len(losses),
                  "seconds": round(time.monotonic() - t0, 2)}
        state.history.append(record)
        log.write(record)
        done = cfg.loss_threshold is not None and record["loss"] < cfg.loss_threshold
        if done or state.epoch >= cfg.max_epochs:
            state.stop_reason = "threshold" if done else "max_epochs"
        ck = write_checkpoint(out, "barlow", model, opt, cfg.model_dump(mode="json"),
                              corpus.data_version, state, cfg.model_version)
        if done:
            break
    return ck
