"""Synthetic training data: versions, 1-fps sampling, similar pairs and clip pairs."""

from __future__ import annotations

from pathlib import Path

import torch

from vidsearch.training.config import DataConfig
from vidsearch.training.data import (
    Corpus,
    data_version,
    render_corpus,
    sample_clip_pairs,
    sample_pairs,
)

TINY = DataConfig(n_videos=3, duration_s=2.0, render_fps=2.0, render_width=32,
                  render_height=24, frame_size=16, n_val_videos=2)


def _indexed_corpus(n_videos: int = 5, n_frames: int = 12) -> Corpus:
    """Frame value = 10 * video + frame index, so sampled positions can be read back."""
    v = torch.arange(n_videos).view(-1, 1) * 10 + torch.arange(n_frames).view(1, -1)
    frames = v.view(n_videos, n_frames, 1, 1, 1).expand(n_videos, n_frames, 4, 4, 3)
    return Corpus(frames.to(torch.uint8).contiguous(), render_fps=2.0, sample_fps=1.0,
                  data_version="test")


def test_data_version_tracks_generation_parameters() -> None:
    v1 = data_version(TINY)
    assert v1 == data_version(TINY.model_copy())
    assert v1.startswith("synthetic-train-3x2s-")
    assert data_version(TINY.model_copy(update={"frame_size": 32})) != v1
    assert data_version(TINY.model_copy(update={"n_videos": 4})) != v1
    assert data_version(TINY, "val") != v1
    # where the cache lives is not a generation parameter
    assert data_version(TINY.model_copy(update={"cache_dir": "/tmp/x"})) == v1


def test_render_corpus_shapes_and_cache(tmp_path: Path) -> None:
    cfg = TINY.model_copy(update={"cache_dir": str(tmp_path)})
    corpus = render_corpus(cfg, progress=False)
    assert corpus.frames.shape == (3, 4, 16, 16, 3) and corpus.frames.dtype == torch.uint8
    assert corpus.stride == 2 and corpus.sampled().shape == (3, 2, 16, 16, 3)
    cached = render_corpus(cfg, progress=False)
    assert torch.equal(cached.frames, corpus.frames)
    assert (tmp_path / f"{corpus.data_version}.npy").exists()


def test_rendering_in_several_processes_gives_the_same_corpus() -> None:
    """`render_workers` (the GPU script renders on 16 cores) changes the speed, not the
    frames nor their version: a corpus rendered either way is the same material."""
    one = render_corpus(TINY, progress=False)
    two = TINY.model_copy(update={"render_workers": 2})
    assert data_version(two) == one.data_version
    assert torch.equal(render_corpus(two, progress=False).frames, one.frames)


def test_sample_pairs_positive_is_same_or_neighbour_frame() -> None:
    corpus = _indexed_corpus()
    gen = torch.Generator().manual_seed(0)
    a, p, vid = sample_pairs(corpus, 5, gen, temporal_jitter_p=1.0)
    assert a.shape == (5, 4, 4, 3) and sorted(vid.tolist()) == [0, 1, 2, 3, 4]
    a_idx = a[:, 0, 0, 0].long() - vid * 10
    p_idx = p[:, 0, 0, 0].long() - vid * 10
    assert bool((a_idx % 2 == 0).all())  # anchors on the 1-fps grid
    assert bool(((p_idx - a_idx).abs() <= 1).all())
    a, p, _ = sample_pairs(corpus, 5, gen, temporal_jitter_p=0.0)
    assert torch.equal(a, p)


def test_sample_clip_pairs_stride_and_length() -> None:
    corpus = _indexed_corpus()
    c1, c2, vid = sample_clip_pairs(corpus, 4, clip_len=3, gen=torch.Generator().manual_seed(1))
    assert c1.shape == (4, 3, 4, 4, 3) and c2.shape == (4, 3, 4, 4, 3)
    for clips in (c1, c2):
        idx = clips[:, :, 0, 0, 0].long() - vid.view(-1, 1) * 10
        assert torch.equal(idx[:, 1:] - idx[:, :-1], torch.full((4, 2), 2))  # 1 fps of 2 fps
        assert bool((idx >= 0).all()) and bool((idx < 12).all())
