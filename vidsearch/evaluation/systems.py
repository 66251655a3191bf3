"""The retrieval systems the quality benchmark compares, each run end to end on real files.

The learned systems go through the production path: checkpoint → verified ONNX export →
ONNX Runtime backend → Qdrant Edge catalog → the orchestrator's search pipeline. The
baseline is the training-free DCT perceptual hash.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vidsearch.config import VidsearchConfig
from vidsearch.orchestrator.api import SearchMode, SearchOptions

Segment = tuple[float, float]


@dataclass(frozen=True)
class VideoFile:
    video_id: str
    path: Path


@dataclass
class SystemRun:
    """What one system answered for every query."""

    name: str
    predictions: list[tuple[str, str, float]] = field(default_factory=list)
    ranked: dict[str, list[str]] = field(default_factory=dict)
    segments: dict[tuple[str, str], tuple[Segment, Segment]] = field(default_factory=dict)
    seconds_per_query: float = 0.0
    index_seconds: float = 0.0  # wall time to index every reference
    indexed_video_seconds: float = 0.0  # total duration of the references indexed

    @property
    def ms_per_indexed_second(self) -> float | None:
        """Indexing throughput: wall ms spent per second of reference video."""
        if self.indexed_video_seconds <= 0:
            return None
        return 1000.0 * self.index_seconds / self.indexed_video_seconds


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any], at: str = "") -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if key not in out:
            raise ValueError(f"config override {at}{key}: no such VidsearchConfig field")
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value, f"{at}{key}.")
        else:
            out[key] = value
    return out


def apply_overrides(config: VidsearchConfig, overrides: Mapping[str, Any]) -> VidsearchConfig:
    """A copy of ``config`` with nested ``overrides`` ({"search": {"max_hamming": 30}})
    applied and validated: an unknown section or field is an error (ValueError), not a
    silent no-op."""
    if not overrides:
        return config
    merged = _deep_merge(config.model_dump(), overrides)
    return VidsearchConfig.model_validate(merged)


def export_release(checkpoints: Sequence[Path], repository: Path) -> None:
    """Export checkpoints (video_hash + barlow) as one release into ``repository``."""
    from vidsearch.exporters.families import family_for_kind
    from vidsearch.exporters.pipeline import export_models
    from vidsearch.training.checkpoint import load_checkpoint

    loaded = [family_for_kind(load_checkpoint(p).kind).loader(p, 0) for p in checkpoints]
    export_models(loaded, repository)


def run_learned(
    repository: Path,
    references: Sequence[VideoFile],
    queries: Sequence[VideoFile],
    *,
    modes: Sequence[tuple[SearchMode, str]],
    top_k: int = 10,
    work_dir: Path | None = None,
    progress: bool = True,
    config_overrides: Mapping[str, Any] | None = None,
    search_overrides: Sequence[Mapping[str, Any]] | None = None,
    reference_seconds: float = 0.0,
    background_videos: int = 60,
) -> list[SystemRun]:
    """Index the references once, then search every query in each (mode, run name).

    ``config_overrides`` (nested dict) apply to VidsearchConfig before anything is built:
    ablations are data. ``search_overrides`` (one ``search`` section dict per mode, or
    None) change only how that run searches, so every run shares the one index: each
    gets its own orchestrator over the same catalog. ``reference_seconds`` (total
    reference duration) gives the indexing throughput. ``background_videos`` fill the
    background catalog first when a run normalises scores (they are never indexed as
    references)."""
    import time

    from vidsearch.orchestrator.factory import build_orchestrator

    per_run = list(search_overrides or [{}] * len(modes))
    if len(per_run) != len(modes):
        raise ValueError(f"{len(per_run)} search overrides for {len(modes)} modes")
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        base = apply_overrides(VidsearchConfig(), config_overrides or {})
        base.inference.model_repository = repository
        base.catalog.path = Path(tmp) / "catalog"
        base.server.max_concurrent_searches = 1
        # µAP is threshold-free: every scored candidate is a prediction (as min_repetition=0)
        base.search.min_score = base.search.raw_min_score = 0.0
        configs = [apply_overrides(base, {"search": dict(o)}) for o in per_run]
        if background_videos and any(c.search.normalise for c in configs):
            from vidsearch.orchestrator.background import fill_background

            fill_background(base, background_videos)
        orchestrator = build_orchestrator(base)
        try:
            started = time.perf_counter()
            for ref in tqdm(references, desc="index references", disable=not progress):
                orchestrator.index_video(ref.path, video_id=ref.video_id, source=str(ref.path))
            orchestrator.optimize_catalog()
            index_seconds = time.perf_counter() - started
        finally:
            orchestrator.close()
        runs = []
        for (mode, name), config in zip(modes, configs, strict=True):
            run = SystemRun(name, index_seconds=index_seconds,
                            indexed_video_seconds=reference_seconds)
            orchestrator = build_orchestrator(config)
            try:
                _search_all(orchestrator, queries, run, mode, top_k, progress)
            finally:
                orchestrator.close()
            runs.append(run)
        return runs


def _search_all(orchestrator: Any, queries: Sequence[VideoFile], run: SystemRun,
                mode: SearchMode, top_k: int, progress: bool) -> None:
    """Search every query into ``run``: its ranking, (query, reference, score) predictions
    and each hit's longest matched segment."""
    import time

    options = SearchOptions(mode=mode, top_k=top_k, min_repetition=0.0)
    started = time.perf_counter()
    for query in tqdm(queries, desc=f"search: {run.name}", disable=not progress):
        result = orchestrator.search_by_video(query.path, options)
        run.ranked[query.video_id] = [h.video.video_id for h in result.hits]
        for hit in result.hits:
            run.predictions.append((query.video_id, hit.video.video_id, hit.score))
            if hit.segments:
                best = max(hit.segments, key=lambda s: s.query_end_s - s.query_start_s)
                run.segments[(query.video_id, hit.video.video_id)] = (
                    (best.query_start_s, best.query_end_s),
                    (best.reference_start_s, best.reference_end_s),
                )
    run.seconds_per_query = (time.perf_counter() - started) / max(1, len(queries))


PHASH_NAME = "perceptual hash (DCT, 64-bit)"
PHASH_FLIP_NAME = "perceptual hash (DCT, 64-bit) + flipped query"


def run_phash(
    references: Sequence[VideoFile],
    queries: Sequence[VideoFile],
    *,
    fps: float = 1.0,
    top_k: int = 10,
    progress: bool = True,
    flips: Sequence[bool] = (False,),
    reference_seconds: float = 0.0,
) -> SystemRun:
    """The training-free baseline (the first of ``flips``; see run_phash_variants)."""
    return run_phash_variants(references, queries, fps=fps, top_k=top_k, progress=progress,
                              flips=flips, reference_seconds=reference_seconds)[0]


def run_phash_variants(
    references: Sequence[VideoFile],
    queries: Sequence[VideoFile],
    *,
    fps: float = 1.0,
    top_k: int = 10,
    progress: bool = True,
    flips: Sequence[bool] = (False, True),
    reference_seconds: float = 0.0,
) -> list[SystemRun]:
    """Per-frame 64-bit DCT hashes, frame-level Hamming matching; one index, one run per
    entry of ``flips``. A flipped run also searches the mirrored query and keeps each
    reference's better score (the usual cheap fix for mirrored copies)."""
    import time

    from vidsearch.evaluation.phash import PerceptualHashIndex, phash_frames
    from vidsearch.media.decode import decode_video

    def decode(path: Path) -> tuple[np.ndarray, np.ndarray]:
        decoded = decode_video(path, fps=fps, size=64)
        return decoded.frames, decoded.timestamps

    index = PerceptualHashIndex()
    started = time.perf_counter()
    for ref in tqdm(references, desc="phash: index", disable=not progress):
        frames, times = decode(ref.path)
        index.add(ref.video_id, phash_frames(frames), times)
    index_seconds = time.perf_counter() - started
    runs = []
    for flip in flips:
        run = SystemRun(PHASH_FLIP_NAME if flip else PHASH_NAME, index_seconds=index_seconds,
                        indexed_video_seconds=reference_seconds)
        started = time.perf_counter()
        for query in tqdm(queries, desc=f"search: {run.name}", disable=not progress):
            frames, times = decode(query.path)
            found = index.search(phash_frames(frames), times, top_k=top_k)
            if flip:
                mirrored = index.search(phash_frames(frames[:, :, ::-1]), times, top_k=top_k)
                best: dict[str, tuple[str, float, Segment, Segment]] = {}
                for hit in [*found, *mirrored]:
                    if hit[0] not in best or hit[1] > best[hit[0]][1]:
                        best[hit[0]] = hit
                found = sorted(best.values(), key=lambda h: -h[1])[:top_k]
            run.ranked[query.video_id] = [ref_id for ref_id, *_ in found]
            for ref_id, score, q_seg, r_seg in found:
                run.predictions.append((query.video_id, ref_id, float(score)))
                run.segments[(query.video_id, ref_id)] = (q_seg, r_seg)
        run.seconds_per_query = (time.perf_counter() - started) / max(1, len(queries))
        runs.append(run)
    return runs
