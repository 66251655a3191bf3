"""Captioner data: generated videos as frozen semantic frame features + reference captions.

Videos are rendered like the text-search training corpus (``training.data.render_corpus``,
1-fps samples of 2-fps renders squashed to the model size) in three disjoint seed ranges
that follow text search's: train from seed 0 (where the frame encoder trained), validation
900_000+, test 950_000+. Each video's 1-fps frames go once through the frozen semantic
frame encoder of ``frame_encoder`` (the one text search ships), and the features are
cached per split under ``cache_dir`` (``training.common.feature_cache_file``, keyed by
everything they depend on), so training the captioner only reads tensors.

References: ``captions_per_video`` captions per video in the TRAIN wording
(``training.captions``: varied synonyms, templates, scene orders, short queries); the
HELD_OUT wording is never used here, neither to train nor as a reference. The vocabulary
is built from the training split's captions only; other words map to UNK.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor
from tqdm import tqdm

from vidsearch.contract.caption_words import BOS, EOS, PAD, SPECIALS, UNK, detokenize, tokenize
from vidsearch.training.captions import captions_for
from vidsearch.training.common import feature_cache_file
from vidsearch.training.config import DataConfig
from vidsearch.training.data import _generator_digest, render_corpus
from vidsearch.training.semantic import load_frame_encoder
from vidsearch.training.tag_data import _file_digest

Split = Literal["train", "val", "test"]


class CaptionDataConfig(BaseModel):
    """Which generated videos, how they are rendered, encoded and captioned."""

    model_config = ConfigDict(extra="forbid")

    train_seed_start: int = Field(default=0, ge=0)
    n_train: int = Field(default=1000, ge=2)
    val_seed_start: int = Field(default=900_000, ge=0)
    n_val: int = Field(default=48, ge=2)
    test_seed_start: int = Field(default=950_000, ge=0)
    n_test: int = Field(default=200, ge=2)
    duration_s: float = Field(default=24.0, gt=0)
    render_fps: float = Field(default=2.0, gt=0)
    render_width: int = Field(default=160, ge=16)
    render_height: int = Field(default=120, ge=16)
    frame_size: int = Field(default=112, ge=16)
    captions_per_video: int = Field(default=20, ge=5, description="references per video")
    frame_encoder: str = Field(
        default="models/starter/text_video.pt",
        description="semantic or text_video checkpoint whose semantic frame encoder is used")
    chunk: int = Field(default=64, ge=1, description="videos rendered and encoded at once")
    cache_dir: str = "var/caption_cache"

    def seeds(self, split: Split) -> range:
        start, n = {"train": (self.train_seed_start, self.n_train),
                    "val": (self.val_seed_start, self.n_val),
                    "test": (self.test_seed_start, self.n_test)}[split]
        return range(start, start + n)


@dataclass(frozen=True)
class Vocabulary:
    """Word <-> id; ids 0-3 are PAD, BOS, EOS, UNK."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.words[: len(SPECIALS)] != SPECIALS:
            raise ValueError("a vocabulary starts with the special tokens")

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        """BOS, the words' ids (UNK for unknown words), EOS."""
        index = self.index
        return [BOS, *(index.get(w, UNK) for w in tokenize(text)), EOS]

    def decode(self, ids: Sequence[int]) -> str:
        return detokenize(self.words[i] for i in ids if i >= len(SPECIALS))


def build_vocabulary(texts: Iterable[str], min_count: int = 1) -> Vocabulary:
    """Every word of ``texts`` seen at least ``min_count`` times, most frequent first."""
    counts = Counter(w for t in texts for w in tokenize(t))
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return Vocabulary((*SPECIALS, *kept))


def references(cfg: CaptionDataConfig, seeds: Iterable[int]) -> list[list[str]]:
    """The TRAIN-wording captions of each video."""
    return [captions_for(s, cfg.duration_s, cfg.captions_per_video) for s in seeds]


def pad_captions(vocab: Vocabulary, texts: Sequence[str]) -> Tensor:
    """Captions -> ids [N, longest + 2] (BOS ... EOS, PAD after)."""
    ids = [vocab.encode(t) for t in texts]
    out = torch.full((len(ids), max(map(len, ids))), PAD, dtype=torch.long)
    for i, row in enumerate(ids):
        out[i, : len(row)] = torch.tensor(row)
    return out


@dataclass
class CaptionSplit:
    """One split: frame features [V,T,F], frame mask [V,T], seeds, references."""

    seeds: list[int]
    feats: Tensor
    mask: Tensor
    refs: list[list[str]]
    data_version: str

    @property
    def n_videos(self) -> int:
        return len(self.seeds)


def _render_config(cfg: CaptionDataConfig, start: int, n: int) -> DataConfig:
    return DataConfig(seed_start=start, n_videos=n, duration_s=cfg.duration_s,
                      render_fps=cfg.render_fps, render_width=cfg.render_width,
                      render_height=cfg.render_height, frame_size=cfg.frame_size,
                      cache_dir=None)


def _cache_file(cfg: CaptionDataConfig, split: Split) -> Path:
    """Keyed by what the features depend on: the split's seeds, rendering, encoder file."""
    seeds = cfg.seeds(split)
    key = [seeds.start, len(seeds), cfg.model_dump(mode="json", include={
        "duration_s", "render_fps", "render_width", "render_height", "frame_size"}),
        _generator_digest(), _file_digest(cfg.frame_encoder)]
    return feature_cache_file(cfg.cache_dir, f"captions-{split}-{len(seeds)}x"
                              f"{cfg.duration_s:g}s", key)


def data_version(cfg: CaptionDataConfig, split: Split) -> str:
    """Stable id of a split's features: the seeds and a digest of what made them."""
    return _cache_file(cfg, split).stem


@torch.no_grad()
def _encode_split(cfg: CaptionDataConfig, split: Split, progress: bool) -> Tensor:
    encoder = load_frame_encoder(cfg.frame_encoder)
    seeds = cfg.seeds(split)
    out = []
    for start in tqdm(range(seeds.start, seeds.stop, cfg.chunk), desc=f"captions ({split})",
                      disable=not progress, leave=False):
        n = min(cfg.chunk, seeds.stop - start)
        out.append(encoder(render_corpus(_render_config(cfg, start, n), "train",
                                         progress=False).sampled()))
    return torch.cat(out)


def load_caption_split(cfg: CaptionDataConfig, split: Split,
                       progress: bool = True) -> CaptionSplit:
    """A split's features (from the cache, else rendered, encoded and cached) + references."""
    path = _cache_file(cfg, split)
    if path.exists():
        feats = torch.load(path, weights_only=True)
    else:
        feats = _encode_split(cfg, split, progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(feats, tmp)
        tmp.replace(path)
    seeds = list(cfg.seeds(split))
    return CaptionSplit(seeds, feats, torch.ones(feats.shape[:2]), references(cfg, seeds),
                        path.stem)
