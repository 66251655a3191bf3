"""Training data from procedurally generated videos (``vidsearch.media.synthetic``).

Videos are rendered at ``render_fps`` (2 by default) and squashed to the square model
size, like the serving decoder's ``decode_video(path, fps=1.0, size=64)``. The models
see 1-fps samples; the in-between frames give positives a temporal offset of up to
half a second, which is what a speed-changed or re-timed copy sampled at 1 fps looks
like. Near-duplicate similar pairs are (frame, augmented copy of the same/neighbour frame);
Barlow Twins takes two random clips per video.

``data_version`` hashes the generation parameters and the generator's source, so a
checkpoint records exactly which material it was trained on.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import multiprocessing
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from vidsearch.media import photos, synthetic
from vidsearch.training.config import DataConfig

Split = Literal["train", "val"]
_In = TypeVar("_In")
_Out = TypeVar("_Out")


def _one_thread() -> None:
    torch.set_num_threads(1)


def parallel_map(fn: Callable[[_In], _Out], items: Iterable[_In], workers: int, desc: str,
                 progress: bool = True) -> list[_Out]:
    """``[fn(x) for x in items]`` in ``workers`` processes (in order; in this process when
    1). Spawned, not forked: a fork of a process whose torch thread pool has run can hang.
    ``fn`` must be a module-level function."""
    items = list(items)
    if workers <= 1:
        return [fn(x) for x in tqdm(items, desc=desc, disable=not progress, leave=False)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_one_thread) as pool:
        chunk = max(1, len(items) // (workers * 8))
        return list(tqdm(pool.map(fn, items, chunksize=chunk), total=len(items), desc=desc,
                         disable=not progress, leave=False))


def _render_synthetic(job: tuple[int, DataConfig]) -> np.ndarray:
    seed, cfg = job
    raw = synthetic.render_video(seed, cfg.duration_s, fps=cfg.render_fps,
                                 width=cfg.render_width, height=cfg.render_height)
    return resize_frames(raw, cfg.frame_size).numpy()


def _generator_digest() -> str:
    return hashlib.sha1(inspect.getsource(synthetic).encode()).hexdigest()[:8]


def data_version(cfg: DataConfig, split: Split = "train") -> str:
    """Stable id of a rendered corpus: split + hash of every generation parameter."""
    start, n = (cfg.seed_start, cfg.n_videos) if split == "train" else (
        cfg.val_seed_start, cfg.n_val_videos)
    params: dict[str, object] = {
        "seeds": [start, start + n], "duration_s": cfg.duration_s, "render_fps": cfg.render_fps,
        "render": [cfg.render_width, cfg.render_height], "frame_size": cfg.frame_size,
        "generator": _generator_digest(),
    }
    kind = "synthetic"
    n_photo = photo_video_count(cfg, split)
    if n_photo:
        kind = "mixed"
        params["photos"] = [n_photo, photos.photos_digest(_photos(cfg)), _photo_digest()]
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    suffix = f"+{n_photo}photo" if n_photo else ""
    return f"{kind}-{split}-{n}{suffix}x{cfg.duration_s:g}s-{digest}"


def photo_video_count(cfg: DataConfig, split: Split) -> int:
    """Photo videos in a split: ``photo_videos`` for training, in proportion for validation."""
    if split == "train":
        return cfg.photo_videos
    return round(cfg.photo_videos * cfg.n_val_videos / cfg.n_videos)


def _photo_digest() -> str:
    return hashlib.sha1(inspect.getsource(photos).encode()).hexdigest()[:8]


@functools.cache
def _photos_at(roots: tuple[str, ...]) -> list[photos.Photo]:
    return photos.training_photos([Path(r) for r in roots])


def _photos(cfg: DataConfig) -> list[photos.Photo]:
    return _photos_at(tuple(cfg.photo_roots))


@dataclass
class Corpus:
    """Rendered videos: uint8 frames [V, N, S, S, 3] at ``render_fps``."""

    frames: Tensor
    render_fps: float
    sample_fps: float
    data_version: str

    @property
    def stride(self) -> int:
        """Rendered frames per sampled (1-fps) frame."""
        return max(1, round(self.render_fps / self.sample_fps))

    @property
    def n_videos(self) -> int:
        return int(self.frames.shape[0])

    def sampled(self) -> Tensor:
        """The 1-fps frames the models see: [V, T, S, S, 3]."""
        return self.frames[:, :: self.stride]


def resize_frames(frames: np.ndarray, size: int) -> Tensor:
    """uint8 [T,H,W,3] -> uint8 [T,size,size,3], antialiased bilinear squash."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def render_corpus(cfg: DataConfig, split: Split = "train", progress: bool = True) -> Corpus:
    """Render (or load from ``cfg.cache_dir``) the train or validation corpus."""
    version = data_version(cfg, split)
    cache = Path(cfg.cache_dir) / f"{version}.npy" if cfg.cache_dir else None
    if cache is not None and cache.exists():
        frames = torch.from_numpy(np.load(cache))
        return Corpus(frames, cfg.render_fps, cfg.sample_fps, version)
    start, n = (cfg.seed_start, cfg.n_videos) if split == "train" else (
        cfg.val_seed_start, cfg.n_val_videos)
    videos = [torch.from_numpy(v) for v in parallel_map(
        _render_synthetic, ((s, cfg) for s in range(start, start + n)), cfg.render_workers,
        f"render {split}", progress)]
    n_photo = photo_video_count(cfg, split)
    if n_photo:
        pictures = [p.pixels for p in _photos(cfg)]
        # Photos split like seeds: training and validation never film the same picture.
        held_out = max(1, len(pictures) // 8)
        pool = pictures[held_out:] if split == "train" else pictures[:held_out]
        for seed in tqdm(range(start, start + n_photo), desc=f"film photos ({split})",
                         disable=not progress, leave=False):
            raw = photos.render_photo_video(pool, seed, cfg.duration_s, cfg.render_fps,
                                            cfg.render_width, cfg.render_height)
            videos.append(resize_frames(raw, cfg.frame_size))
    frames = torch.stack(videos)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, frames.numpy())
        tmp.replace(cache)
    return Corpus(frames, cfg.render_fps, cfg.sample_fps, version)


def render_splits(cfg: DataConfig, progress: bool = True) -> tuple[Corpus, Corpus]:
    """Train and validation corpora, rendered (or loaded) once for every stage of a recipe."""
    t0 = time.monotonic()
    corpus = render_corpus(cfg, "train", progress)
    val = render_corpus(cfg, "val", progress)
    tqdm.write(f"data {corpus.data_version}: {tuple(corpus.frames.shape)} "
               f"in {time.monotonic() - t0:.1f}s")
    return corpus, val


def to_float(frames: Tensor) -> Tensor:
    """uint8 [..., H, W, 3] -> float [..., 3, H, W] in [0, 1] (augmentation input)."""
    return frames.movedim(-1, -3).float() / 255.0


def _pick_videos(n_videos: int, batch: int, gen: torch.Generator) -> Tensor:
    """Distinct videos when possible, so a similar-sample set rarely repeats a source."""
    if batch <= n_videos:
        return torch.randperm(n_videos, generator=gen)[:batch]
    return torch.randint(n_videos, (batch,), generator=gen)


def sample_pairs(corpus: Corpus, batch: int, gen: torch.Generator,
                 temporal_jitter_p: float = 0.5) -> tuple[Tensor, Tensor, Tensor]:
    """Near-duplicate similar pairs: (anchor frame, positive source frame, video id).

    The anchor is a 1-fps frame; the positive is the same frame or, with probability
    ``temporal_jitter_p``, a neighbouring rendered frame (+-1/render_fps s). Both are
    uint8 [B,S,S,3]; the trainer augments the positive (heavily) and the anchor (lightly).
    """
    vid = _pick_videos(corpus.n_videos, batch, gen)
    n = corpus.frames.shape[1]
    n_sampled = (n + corpus.stride - 1) // corpus.stride
    t = torch.randint(n_sampled, (batch,), generator=gen) * corpus.stride
    step = torch.randint(0, 2, (batch,), generator=gen) * 2 - 1
    jitter = (torch.rand(batch, generator=gen) < temporal_jitter_p).long() * step
    tp = (t + jitter).clamp(0, n - 1)
    return corpus.frames[vid, t], corpus.frames[vid, tp], vid


def sample_clip_pairs(corpus: Corpus, batch: int, clip_len: int,
                      gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Barlow Twins: two random clips of ``clip_len`` 1-fps frames from each of ``batch`` videos.

    Returns clips1, clips2 uint8 [B,T,S,S,3] and the video ids [B]. Clips start at any
    rendered frame, so the two clips are generally not frame-aligned.
    """
    vid = _pick_videos(corpus.n_videos, batch, gen)
    n = corpus.frames.shape[1]
    span = (clip_len - 1) * corpus.stride + 1
    if span > n:
        raise ValueError(f"clip of {clip_len} frames does not fit videos of {n} frames")
    offsets = torch.arange(clip_len) * corpus.stride
    starts = torch.randint(n - span + 1, (2, batch), generator=gen)
    idx1 = starts[0][:, None] + offsets[None, :]
    idx2 = starts[1][:, None] + offsets[None, :]
    rows = vid[:, None]
    return corpus.frames[rows, idx1], corpus.frames[rows, idx2], vid
