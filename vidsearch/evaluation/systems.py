"""The retrieval systems the quality benchmark compares, each run end to end on real files.

The learned systems go through the production path: checkpoint → verified ONNX export →
ONNX Runtime backend → Qdrant Edge catalog → the orchestrator's search pipeline. The
baseline is the training-free DCT perceptual hash.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
) -> list[SystemRun]:
    """Index the references once, then search every query in each (mode, run name)."""
    import time

    from vidsearch.orchestrator.factory import build_orchestrator

    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        config = VidsearchConfig()
        config.inference.model_repository = repository
        config.catalog.path = Path(tmp) / "catalog"
        config.server.max_concurrent_searches = 1
        orchestrator = build_orchestrator(config)
        try:
            for ref in tqdm(references, desc="index references", disable=not progress):
                orchestrator.index_video(ref.path, video_id=ref.video_id, source=str(ref.path))
            orchestrator.optimize_catalog()
            runs = []
            for mode, name in modes:
                run = SystemRun(name)
                options = SearchOptions(mode=mode, top_k=top_k, min_repetition=0.0)
                started = time.perf_counter()
                for query in tqdm(queries, desc=f"search: {name}", disable=not progress):
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
                runs.append(run)
            return runs
        finally:
            orchestrator.close()


def run_phash(
    references: Sequence[VideoFile],
    queries: Sequence[VideoFile],
    *,
    fps: float = 1.0,
    top_k: int = 10,
    progress: bool = True,
) -> SystemRun:
    """The training-free baseline: per-frame 64-bit DCT hashes, frame-level Hamming matching."""
    import time

    from vidsearch.evaluation.phash import PerceptualHashIndex, phash_frames
    from vidsearch.media.decode import decode_video

    def hashes(path: Path) -> tuple[np.ndarray, np.ndarray]:
        decoded = decode_video(path, fps=fps, size=64)
        return phash_frames(decoded.frames), decoded.timestamps

    index = PerceptualHashIndex()
    for ref in tqdm(references, desc="phash: index", disable=not progress):
        codes, times = hashes(ref.path)
        index.add(ref.video_id, codes, times)
    run = SystemRun("perceptual hash (DCT, 64-bit)")
    started = time.perf_counter()
    for query in tqdm(queries, desc="phash: search", disable=not progress):
        codes, times = hashes(query.path)
        found = index.search(codes, times, top_k=top_k)
        run.ranked[query.video_id] = [ref_id for ref_id, *_ in found]
        for ref_id, score, q_seg, r_seg in found:
            run.predictions.append((query.video_id, ref_id, float(score)))
            run.segments[(query.video_id, ref_id)] = (q_seg, r_seg)
    run.seconds_per_query = (time.perf_counter() - started) / max(1, len(queries))
    return run
