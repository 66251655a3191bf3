"""Tag training data (seed 004): generated tagged videos and their frozen-encoder features.

Each video is written as an MP4 with its sound and narration (``training.tags``), then
read back through the serving decoders, so training sees what an upload gives: the
1-fps frames through the frozen semantic frame encoder (the one text search ships), the
sound as an MFCC sequence (mean-pooled over ``mfcc_pool`` frames; empty for the videos
uploaded silent), the title through the frozen MiniLM (absent for an empty title). The
MP4 is deleted once read. Three disjoint seed ranges: train, validation, test.

The features are cached per split under ``cache_dir``, keyed by everything they depend
on (generator and feature sources, the frame encoder file, the settings): the
``data_version`` a checkpoint records.
"""

from __future__ import annotations

import hashlib
import inspect
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor
from tqdm import tqdm

from vidsearch.media import mfcc as mfcc_module
from vidsearch.media import synthetic, synthetic_audio
from vidsearch.media.audio import decode_audio
from vidsearch.media.decode import decode_video
from vidsearch.media.mfcc import mfcc
from vidsearch.networks.tag_video import MFCC_DIM
from vidsearch.networks.text_encoder import TEXT_DIM, build_text_encoder, load_tokenizer, tokenize
from vidsearch.training import tags as tags_module
from vidsearch.training.common import feature_cache_file
from vidsearch.training.semantic import load_frame_encoder
from vidsearch.training.tags import write_tagged_video

Split = Literal["train", "val", "test"]


class TagDataConfig(BaseModel):
    """Which generated videos, how they are written and read back."""

    model_config = ConfigDict(extra="forbid")

    train_seed_start: int = Field(default=100_000, ge=0)
    n_train: int = Field(default=400, ge=2)
    val_seed_start: int = Field(default=800_000, ge=0)
    n_val: int = Field(default=48, ge=2)
    test_seed_start: int = Field(default=850_000, ge=0)
    n_test: int = Field(default=100, ge=2)
    duration_s: float = Field(default=16.0, gt=0)
    video_fps: float = Field(default=8.0, gt=0, description="fps of the written MP4")
    width: int = Field(default=160, ge=16)
    height: int = Field(default=120, ge=16)
    sample_fps: float = Field(default=1.0, gt=0, description="frames the encoder sees (serving)")
    frame_size: int = Field(default=112, ge=16, description="decoded square frame size")
    silent_share: float = Field(default=0.15, ge=0, le=1,
                                description="videos uploaded without their sound")
    mfcc_pool: int = Field(default=4, ge=1, description="MFCC frames averaged into one step")
    max_title_tokens: int = Field(default=32, ge=4)
    frame_encoder: str = Field(
        default="models/starter/text_video.pt",
        description="semantic or text_video checkpoint whose semantic frame encoder is used")
    cache_dir: str = "var/tag_cache"

    def seeds(self, split: Split) -> range:
        start, n = {"train": (self.train_seed_start, self.n_train),
                    "val": (self.val_seed_start, self.n_val),
                    "test": (self.test_seed_start, self.n_test)}[split]
        return range(start, start + n)


def is_silent(seed: int, share: float) -> bool:
    """Whether video ``seed`` is uploaded without its sound track (drawn once per seed)."""
    return bool(np.random.default_rng([seed, 0, 14]).random() < share)


@cache
def _file_digest(path: str) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:12]


def _sources_digest() -> str:
    modules = (synthetic, synthetic_audio, tags_module, mfcc_module)
    text = "".join(inspect.getsource(m) for m in modules)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def _cache_file(cfg: TagDataConfig, split: Split) -> Path:
    seeds = cfg.seeds(split)
    key = [cfg.model_dump(mode="json", exclude={"cache_dir"}), split, _sources_digest(),
           _file_digest(cfg.frame_encoder)]
    return feature_cache_file(cfg.cache_dir, f"tags-{split}-{len(seeds)}x{cfg.duration_s:g}s",
                              key)


def data_version(cfg: TagDataConfig, split: Split) -> str:
    """Stable id of a split's features: the seeds and a digest of what made them."""
    return _cache_file(cfg, split).stem


class TitleEncoder:
    """Frozen MiniLM sentence features of short texts (titles and tags): [N,384] + mask."""

    def __init__(self, max_tokens: int = 32) -> None:
        self.encoder = build_text_encoder().eval()
        self.tokenizer = load_tokenizer()
        self.max_tokens = max_tokens

    @torch.no_grad()
    def __call__(self, texts: Sequence[str], batch: int = 128) -> tuple[Tensor, Tensor]:
        """Features [N,384] and presence [N] (an empty text has no feature: zeros, 0)."""
        present = torch.tensor([bool(t.strip()) for t in texts])
        out = torch.zeros(len(texts), TEXT_DIM)
        rows = [i for i, t in enumerate(texts) if t.strip()]
        for i in range(0, len(rows), batch):
            chunk = rows[i:i + batch]
            ids, mask = tokenize(self.tokenizer, [texts[r] for r in chunk], self.max_tokens)
            out[chunk] = self.encoder(ids, mask)[1]
        return out, present


@dataclass
class TagSet:
    """One split's videos as frozen features, with their titles and ground-truth tags."""

    seeds: list[int]
    frames: Tensor  # [V,T,F] semantic features of the 1-fps frames
    frame_mask: Tensor  # [V,T]
    mfcc: Tensor  # [V,N,13] pooled MFCC, zero after each video's end
    mfcc_mask: Tensor  # [V,N]; all zero: no sound
    title: Tensor  # [V,384] MiniLM feature of the title
    title_mask: Tensor  # [V]; 0: empty title
    titles: list[str]
    tags: list[list[str]]  # every vocabulary tag (train, hot) the video carries
    data_version: str

    @property
    def n_videos(self) -> int:
        return len(self.seeds)


def pool_mfcc(coefficients: np.ndarray, pool: int) -> np.ndarray:
    """Mean of each ``pool`` consecutive MFCC frames (the tail shorter than pool dropped)."""
    n = len(coefficients) // pool
    return coefficients[: n * pool].reshape(n, pool, -1).mean(axis=1).astype(np.float32)


def _pad(rows: list[Tensor], width: int) -> tuple[Tensor, Tensor]:
    """Stack [n_i, D] rows zero-padded to ``max n_i`` -> ([V,N,D], mask [V,N])."""
    n = max([len(r) for r in rows] + [1])
    out = torch.zeros(len(rows), n, width)
    mask = torch.zeros(len(rows), n)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
        mask[i, : len(r)] = 1.0
    return out, mask


@torch.no_grad()
def _encode_split(cfg: TagDataConfig, split: Split, titles: TitleEncoder,
                  progress: bool) -> TagSet:
    encoder = load_frame_encoder(cfg.frame_encoder)
    seeds = list(cfg.seeds(split))
    frames, sounds, names, tag_texts = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="vidsearch-tags-") as tmp:
        for seed in tqdm(seeds, desc=f"tag videos ({split})", disable=not progress,
                         leave=False):
            video = write_tagged_video(Path(tmp) / f"{seed}.mp4", seed, cfg.duration_s,
                                       cfg.video_fps, cfg.width, cfg.height)
            decoded = decode_video(video.path, fps=cfg.sample_fps, size=cfg.frame_size)
            frames.append(encoder(torch.from_numpy(decoded.frames)[None])[0])
            sound = (np.zeros((0, MFCC_DIM), np.float32) if is_silent(seed, cfg.silent_share)
                     else pool_mfcc(mfcc(decode_audio(video.path)), cfg.mfcc_pool))
            sounds.append(torch.from_numpy(sound))
            names.append(video.title)
            tag_texts.append([t.text for t in video.tags])
            video.path.unlink()
    frame_feats, frame_mask = _pad(frames, int(frames[0].shape[-1]))
    mfcc_feats, mfcc_mask = _pad(sounds, MFCC_DIM)
    title, title_mask = titles(names)
    return TagSet(seeds, frame_feats, frame_mask, mfcc_feats, mfcc_mask, title,
                  title_mask.float(), names, tag_texts, data_version(cfg, split))


def load_split(cfg: TagDataConfig, split: Split, progress: bool = True,
               titles: TitleEncoder | None = None) -> TagSet:
    """A split's features: from the cache, else rendered, encoded and cached."""
    path = _cache_file(cfg, split)
    if path.exists():
        return TagSet(**torch.load(path, weights_only=True))
    data = _encode_split(cfg, split, titles or TitleEncoder(cfg.max_title_tokens), progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({f.name: getattr(data, f.name) for f in fields(data)}, tmp)
    tmp.replace(path)
    return data
