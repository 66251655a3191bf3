"""Train the semantic frame encoder on generated videos whose facts are known.

Supervision is the renderer's own scene description (``training.facts``): every frame is
labelled with its scene's texture and the two largest shapes' kind, colour, size and
motion; facts a viewer could not tell are ignored by the loss. Augmentation keeps the
meaning: a mirrored frame swaps "moving left" and "moving right"; brightness and noise
change no fact. No colour jitter, no crops, no greyscale: those are what captions name.
Held-out score: per-scene accuracy of each fact, from the frame probabilities averaged
over the scene (what a caption of that scene relies on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor
from tqdm import tqdm

from vidsearch.networks.semantic import SemanticConfig, SemanticEncoder
from vidsearch.training.checkpoint import Checkpoint, load_checkpoint
from vidsearch.training.common import (
    MetricsLog,
    RunState,
    adamw,
    lr_at,
    metrics_path,
    set_lr,
    set_threads,
    try_resume,
    write_checkpoint,
)
from vidsearch.training.config import DataConfig
from vidsearch.training.data import Corpus, Split, parallel_map, render_corpus
from vidsearch.training.facts import (
    CELL_FACTS,
    HEADS,
    IGNORE,
    MOTIONS,
    cell_labels,
    frame_labels,
)

CELL_NONE = (True, True, False, False)
_CELL_MOTION = CELL_FACTS.index("motion")  # dense heads with a "none" (background) class
_RIGHT, _LEFT = MOTIONS.index("moving right"), MOTIONS.index("moving left")
_UP, _DOWN = MOTIONS.index("moving up"), MOTIONS.index("moving down")
# a quarter turn counter-clockwise (torch.rot90, k=1, over height then width)
_TURNED = {_RIGHT: _UP, _UP: _LEFT, _LEFT: _DOWN, _DOWN: _RIGHT}
_MIRRORED = {_RIGHT: _LEFT, _LEFT: _RIGHT}
_MOTION_HEAD = [name for name, _ in HEADS].index("motion")


class SemanticTrainConfig(BaseModel):
    """`vidsearch train semantic` (configs/training/semantic_*.yaml)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["semantic"] = "semantic"
    data: DataConfig = DataConfig(n_videos=600, render_width=160, render_height=120,
                                  frame_size=112, n_val_videos=48, cache_dir="var/train_cache")
    model: SemanticConfig = SemanticConfig()
    batch_size: int = Field(default=96, ge=2)
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup_steps: int = Field(default=30, ge=0)
    steps_per_epoch: int = Field(default=100, ge=1)
    max_epochs: int = Field(default=10, ge=1)
    flip_p: float = Field(default=0.5, ge=0, le=1, description="mirror (left/right swapped)")
    turn_p: float = Field(
        default=0.0, ge=0, le=1,
        description="quarter turn (directions turned with it): the generator drifts shapes "
                    "sideways more often and faster than up or down, so vertical motion is "
                    "rare without it")
    still_p: float = Field(default=0.1, ge=0, le=1,
                           description="frames shown without a successor (zero difference)")
    cell_weight: float = Field(default=1.0, ge=0, description="weight of the per-cell facts")
    noise_std: float = Field(default=0.02, ge=0)
    brightness: float = Field(default=0.15, ge=0, lt=1)
    seed: int = 0
    num_threads: int | None = Field(default=2, ge=1)
    device: str = Field(
        default="cpu",
        description="torch device to train on: 'cpu', 'cuda', or 'auto' (cuda when there is "
                    "one); the batches are drawn on the CPU either way")
    bf16: bool = Field(default=True, description="bf16 autocast when training on a GPU")
    time_budget_s: float | None = Field(
        default=None, gt=0,
        description="stop at the end of the first epoch past this many seconds of training "
                    "(data preparation not counted); the learning rate then decays over "
                    "whichever runs out first, steps or time, so a run on a lent machine of "
                    "unknown speed still ends with a cooled-down model")
    model_version: int = Field(default=1, ge=1)


@dataclass
class CorpusLabels:
    """Facts of every rendered frame: per frame [V,N,heads], scene index [V,N], per grid
    cell [V,N,g,g,len(CELL_FACTS)]."""

    frames: Tensor
    scenes: Tensor
    cells: Tensor


def _video_labels(job: tuple[int, float, np.ndarray, int, float],
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed, duration_s, times, grid, aspect = job
    labels, scenes = frame_labels(seed, duration_s, times)
    return labels, scenes, cell_labels(seed, duration_s, times, grid, aspect)


def corpus_labels(cfg: DataConfig, corpus: Corpus, split: Split, grid: int) -> CorpusLabels:
    """Read every video's facts back from the renderer (seeds of the split, in order)."""
    if cfg.photo_videos:
        raise ValueError("photo videos have no scene facts: set data.photo_videos to 0")
    start = cfg.seed_start if split == "train" else cfg.val_seed_start
    times = np.arange(corpus.frames.shape[1]) / corpus.render_fps
    aspect = cfg.render_width / cfg.render_height
    jobs = ((start + v, cfg.duration_s, times, grid, aspect) for v in range(corpus.n_videos))
    labels, scenes, cells = zip(*parallel_map(_video_labels, jobs, cfg.render_workers,
                                              f"facts {split}", progress=False), strict=True)
    return CorpusLabels(torch.from_numpy(np.stack(labels)), torch.from_numpy(np.stack(scenes)),
                        torch.from_numpy(np.stack(cells)))


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _moved(motion: Tensor, directions: dict[int, int]) -> Tensor:
    """Motion labels with each direction replaced as the frame was mirrored or turned."""
    out = motion.clone()
    for before, after in directions.items():
        out[motion == before] = after
    return out


def sample_batch(corpus: Corpus, labels: CorpusLabels, cfg: SemanticTrainConfig,
                 gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """(frame, frame one sampled second later) clips uint8 [B,2,S,S,3], frame labels [B,H]
    and cell labels [B,g,g,F]; mirrored rows have their cells mirrored and left/right
    swapped, turned rows their cells and directions turned."""
    b, n = cfg.batch_size, corpus.frames.shape[1]
    vid = torch.randint(corpus.n_videos, (b,), generator=gen)
    t = torch.randint(n, (b,), generator=gen)
    still = torch.rand(b, generator=gen) < cfg.still_p
    nxt = torch.where(still, t, (t + corpus.stride).clamp(max=n - 1))
    clips = torch.stack([corpus.frames[vid, t], corpus.frames[vid, nxt]], dim=1)
    y, cells = labels.frames[vid, t].clone(), labels.cells[vid, t].clone()
    flip = torch.rand(b, generator=gen) < cfg.flip_p
    clips[flip] = clips[flip].flip(dims=[3])
    cells[flip] = cells[flip].flip(dims=[2])
    y[flip, _MOTION_HEAD] = _moved(y[flip, _MOTION_HEAD], _MIRRORED)
    cells[flip, ..., _CELL_MOTION] = _moved(cells[flip, ..., _CELL_MOTION], _MIRRORED)
    turn = torch.rand(b, generator=gen) < cfg.turn_p
    if bool(turn.any()):
        clips[turn] = torch.rot90(clips[turn], 1, dims=(2, 3))
        cells[turn] = torch.rot90(cells[turn], 1, dims=(1, 2))
        y[turn, _MOTION_HEAD] = _moved(y[turn, _MOTION_HEAD], _TURNED)
        cells[turn, ..., _CELL_MOTION] = _moved(cells[turn, ..., _CELL_MOTION], _TURNED)
    return clips, y, cells


def augment_pairs(x: Tensor, cfg: SemanticTrainConfig, gen: torch.Generator) -> Tensor:
    """Brightness and noise on the normalised (frame, difference) pairs: no fact changes."""
    n, dev = x.shape[0], x.device
    gain = 1.0 + (torch.rand(n, 1, 1, 1, generator=gen, device=dev) * 2 - 1) * cfg.brightness
    x = x * gain
    return x + cfg.noise_std * torch.randn(x.shape, generator=gen, device=dev)


def _stated_ce(logits: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Cross-entropy over the stated labels; zero (not NaN) when none is stated."""
    if not bool((target != IGNORE).any()):
        return torch.zeros(())
    return F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE)


def fact_loss(logits: list[Tensor], y: Tensor) -> Tensor:
    """Sum over heads of cross-entropy on the stated facts (frame heads [N,C], y [N,H])."""
    return sum((_stated_ce(lg, y[:, i]) for i, lg in enumerate(logits)), start=torch.zeros(()))


def cell_loss(logits: list[Tensor], cells: Tensor, background_weight: float = 0.05) -> Tensor:
    """Dense heads [N,C,g,g] against cell labels [N,g,g,F], same rule per cell.

    Nine cells in ten are background: at full weight the heads learn to say "none"
    everywhere and stay there, so the "none" class (last, where a head has one) is
    down-weighted."""
    total = torch.zeros(())
    for i, lg in enumerate(logits):
        weight = None
        if i < len(CELL_NONE) and CELL_NONE[i]:
            weight = torch.ones(lg.shape[1], device=lg.device)
            weight[-1] = background_weight
        total = total + _stated_ce(lg, cells[..., i], weight)
    return total


@torch.no_grad()
def scene_accuracy(model: SemanticEncoder, corpus: Corpus, labels: CorpusLabels,
                   batch: int = 4) -> dict[str, float]:
    """Per fact head: accuracy over held-out scenes (frame probabilities averaged per scene)."""
    model.eval()
    dev = next(model.parameters()).device
    frames = corpus.sampled()
    lab, sc = labels.frames[:, :: corpus.stride], labels.scenes[:, :: corpus.stride]
    hits = torch.zeros(len(HEADS))
    counts = torch.zeros(len(HEADS))
    for i in range(0, len(frames), batch):
        feats = model.trunk_features(model.pairs(frames[i:i + batch].to(dev)))
        t = frames.shape[1]
        probs = [p.softmax(-1).view(-1, t, p.shape[-1]).float().cpu()
                 for p in model.fact_logits(feats)]
        for v in range(probs[0].shape[0]):
            for s in sc[i + v].unique():
                rows = sc[i + v] == s
                y = lab[i + v][rows][0]
                for h, p in enumerate(probs):
                    if int(y[h]) != IGNORE:
                        counts[h] += 1
                        hits[h] += float(p[v][rows].mean(0).argmax() == y[h])
    return {f"acc_{name}": float(hits[h] / counts[h].clamp(min=1))
            for h, (name, _) in enumerate(HEADS)}


@torch.no_grad()
def shape_accuracy(model: SemanticEncoder, corpus: Corpus, labels: CorpusLabels,
                   batch: int = 4) -> dict[str, float]:
    """Per fact of a shape (kind, colour, size, motion): accuracy over the held-out scenes'
    two largest shapes, from the per-cell probabilities averaged over the cells the shape
    covers during the scene (the encoder is told where the shape is, not what it is)."""
    model.eval()
    dev = next(model.parameters()).device
    frames = corpus.sampled()
    cells, scenes = labels.cells[:, :: corpus.stride], labels.scenes[:, :: corpus.stride]
    hits, counts = torch.zeros(len(CELL_FACTS)), torch.zeros(len(CELL_FACTS))
    for i in range(0, len(frames), batch):
        grid, _ = model.trunk_maps(model.pairs(frames[i:i + batch].to(dev)))
        t = frames.shape[1]
        probs = [p.softmax(1).view(-1, t, *p.shape[1:]).movedim(2, -1).float().cpu()
                 for p in model.cell_logits(grid)]  # [B,T,g,g,C]
        for v in range(probs[0].shape[0]):
            c, sc = cells[i + v], scenes[i + v]
            for s in sc.unique():
                for rank in (1, 2):
                    where = (sc == s)[:, None, None] & (c[..., -1] == rank)
                    if not bool(where.any()):
                        continue
                    truth = c[where][0]
                    for h, p in enumerate(probs):
                        if int(truth[h]) != IGNORE:
                            counts[h] += 1
                            hits[h] += float(p[v][where].mean(0).argmax() == truth[h])
    return {f"shape_{name}": float(hits[h] / counts[h].clamp(min=1))
            for h, name in enumerate(CELL_FACTS)}


def load_frame_encoder(path: str | Path) -> SemanticEncoder:
    """The frozen semantic frame encoder of a semantic checkpoint, or the one a text_video
    checkpoint carries (``video.encoder.*``), in eval mode."""
    ck = load_checkpoint(path)
    if ck.kind == "semantic":
        cfg, state = ck.config["model"], ck.state_dict
    elif ck.kind == "text_video" and ck.config["model"].get("visual") == "semantic":
        prefix = "video.encoder."
        cfg = ck.config["model"]["semantic"]
        state = {k[len(prefix):]: v for k, v in ck.state_dict.items() if k.startswith(prefix)}
    else:
        raise ValueError(f"{path}: a {ck.kind} checkpoint carries no semantic frame encoder")
    encoder = SemanticEncoder(SemanticConfig.model_validate(cfg))
    encoder.load_state_dict(state, strict=True)
    return encoder.eval().requires_grad_(False)


def train_semantic(cfg: SemanticTrainConfig, out: str | Path, *, resume: bool = False,
                   progress: bool = True) -> tuple[Checkpoint | None, dict[str, Any]]:
    """Train the semantic encoder; returns the last checkpoint and held-out accuracies."""
    if tuple(cfg.model.head_sizes) != tuple(len(v) for _, v in HEADS):
        raise ValueError(f"model.head_sizes must be {[len(v) for _, v in HEADS]}")
    set_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    out = Path(out)
    device = resolve_device(cfg.device)
    model = SemanticEncoder(cfg.model).to(device)
    opt = adamw(model.parameters(), cfg.lr, cfg.weight_decay)
    state: RunState = try_resume(out, model, opt, resume)
    if state.epoch >= cfg.max_epochs:
        return None, dict(state.history[-1]) if state.history else {}
    t0 = time.monotonic()
    train, val = (render_corpus(cfg.data, s, progress) for s in ("train", "val"))
    grid = cfg.model.grid
    labels, val_labels = (corpus_labels(cfg.data, c, s, grid)  # type: ignore[arg-type]
                          for c, s in ((train, "train"), (val, "val")))
    tqdm.write(f"semantic data ready in {time.monotonic() - t0:.1f}s: {tuple(train.frames.shape)}")
    log = MetricsLog(metrics_path(out), cfg.kind)
    total = cfg.max_epochs * cfg.steps_per_epoch
    ck: Checkpoint | None = None
    metrics: dict[str, Any] = {}
    on_gpu = device.type == "cuda"
    eval_batch = 32 if on_gpu else 4
    started = time.monotonic()

    def schedule_step() -> int:
        if cfg.time_budget_s is None:
            return state.step
        return max(state.step, int(total * (time.monotonic() - started) / cfg.time_budget_s))

    for epoch in range(state.epoch, cfg.max_epochs):
        model.train()
        seed = cfg.seed * 1_000_003 + epoch
        gen = torch.Generator().manual_seed(seed)
        # brightness and noise are drawn where the pixels are (the same stream on a CPU)
        aug_gen = torch.Generator(device).manual_seed(seed) if on_gpu else gen
        loss_sum, t1 = 0.0, time.monotonic()
        for _ in tqdm(range(cfg.steps_per_epoch), desc=f"semantic {epoch + 1}",
                      disable=not progress, leave=False):
            set_lr(opt, lr_at(schedule_step(), total, cfg.lr, cfg.warmup_steps))
            clips, y, cells = (t.to(device, non_blocking=True)
                               for t in sample_batch(train, labels, cfg, gen))
            with torch.autocast(device.type, torch.bfloat16, enabled=on_gpu and cfg.bf16):
                x = augment_pairs(model.pairs(clips)[::2], cfg, aug_gen)
                grid_map, pooled = model.trunk_maps(x)
                loss = (fact_loss(model.fact_logits(pooled), y)
                        + cfg.cell_weight * cell_loss(model.cell_logits(grid_map), cells))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state.step += 1
            loss_sum += float(loss.detach())
        state.epoch = epoch + 1
        metrics = scene_accuracy(model, val, val_labels, eval_batch)
        record = {"epoch": state.epoch, "step": state.step,
                  "loss": loss_sum / cfg.steps_per_epoch,
                  "train_seconds": round(time.monotonic() - t1, 2), **metrics}
        state.history.append(record)
        log.write(record)
        out_of_time = (cfg.time_budget_s is not None
                       and time.monotonic() - started >= cfg.time_budget_s)
        state.stop_reason = ("max_epochs" if state.epoch >= cfg.max_epochs
                             else "time_budget" if out_of_time else None)
        ck = write_checkpoint(out, "semantic", model, opt, cfg.model_dump(mode="json"),
                              train.data_version, state, cfg.model_version)
        if out_of_time:
            break
    return ck, metrics
