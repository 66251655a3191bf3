"""Fill the background catalog: generated videos that are never indexed for search.

Score normalisation (``alignment.normalise``) needs, for every query frame, its
similarity to an unrelated video's nearest frame. These videos (procedural, and every
other one filmed over the training photographs when installed) come from their own seed
range (``synthetic.BACKGROUND_SEEDS``: disjoint from training and the benchmark, so a
benchmark reference can never sit in the background) and go through the same decoder and
encoder as indexed videos, into the background catalog of the configured backend
(``catalog.background_path`` / ``catalog.background_prefix``), which searches never
return hits from.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vidsearch.config import VidsearchConfig
from vidsearch.media.synthetic import BACKGROUND_SEEDS, render_video, write_video


def background_config(config: VidsearchConfig) -> VidsearchConfig:
    """``config`` pointed at its background catalog (no text features, no background of
    its own): what the indexing orchestrator of the background runs with."""
    out = config.model_copy(deep=True)
    if config.catalog.backend == "qdrant_edge":  # its own shards, in a sibling folder
        out.catalog.path = config.catalog.background_catalog_path()
    else:  # its own collections, beside the catalog's (same server or local folder)
        out.catalog.collection_prefix = config.catalog.background_collection_prefix()
    out.text.enabled = "off"
    out.search.normalise = False
    return out


def _pictures() -> list[np.ndarray]:
    """Training photographs when installed (never benchmark material): natural footage
    needs a natural background, or its frames look unusual next to procedural ones."""
    from vidsearch.media.photos import NoPhotosError, training_photos

    try:
        return [p.pixels for p in training_photos(max_side=384)]
    except NoPhotosError:
        return []


def _render(seed: int, length: float, fps: float, size: tuple[int, int],
            pictures: list[np.ndarray]) -> np.ndarray:
    """Every other background video is filmed over photographs (when there are any)."""
    if pictures and seed % 2:
        from vidsearch.media.photos import render_photo_video

        return render_photo_video(pictures, seed, length, fps, *size)
    return render_video(seed, length, fps, *size)


def background_video_id(seed: int) -> str:
    return f"background-{seed}"


def fill_background(
    config: VidsearchConfig,
    videos: int,
    *,
    first: int = 0,
    duration_s: tuple[float, float] = (10.0, 20.0),
    fps: float = 8.0,
    size: tuple[int, int] = (160, 120),
    on_video: Callable[[str], None] | None = None,
) -> int:
    """Render and index ``videos`` background videos (seeds ``BACKGROUND_SEEDS + first``
    onwards; re-running with the same range replaces them). Returns the background's
    key-frame count afterwards."""
    from vidsearch.orchestrator.factory import build_orchestrator

    if videos < 1:
        raise ValueError(f"videos must be >= 1, got {videos}")
    pictures = _pictures()
    orchestrator = build_orchestrator(background_config(config))
    try:
        with tempfile.TemporaryDirectory(prefix="vidsearch-background-") as tmp:
            for i in range(first, first + videos):
                seed = BACKGROUND_SEEDS + i
                rng = np.random.default_rng([seed, 0xB6])
                length = float(rng.uniform(*duration_s))
                path = Path(tmp) / f"{seed}.mp4"
                write_video(path, _render(seed, length, fps, size, pictures), fps)
                video_id = background_video_id(seed)
                orchestrator.index_video(path, video_id=video_id, source="background")
                path.unlink()
                if on_video is not None:
                    on_video(video_id)
        orchestrator.optimize_catalog()
        return orchestrator.stats().keyframes
    finally:
        orchestrator.close()
