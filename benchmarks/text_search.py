"""Text -> video: retrieval quality of the ablations (a)-(d) and SearchByText latency.

Quality is offline, one run over the held-out captioned videos of the training config (every
caption queries the held-out gallery), the variants from the same model and features
(``training.text_video_metrics``). Latency is served: the starter release (with the text models)
behind the real gRPC server on loopback, the held-out videos written as H.264 files plus
training videos as filler so the catalog holds more than N videos; each held-out caption is
sent through the SDK, stage 1 only and stage 1 + stage 2 (N candidates) interleaved, so both
see the same machine load.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import Log, SectionConfig, loopback_config, serving, stderr, table
from vidsearch.evaluation.report import MachineInfo, fmt, machine_info, percentile, section_header

TITLE = "Text → video (seed 003)"
VARIANTS = {
    "meanpool": "(a) mean-pooled video vs global text",
    "stage1": "(b) stage 1 only: query-independent embedding (what Qdrant serves)",
    "stage2": "(c) stage 1 + text-conditioned stage 2",
    "stage2_no_kw": "(d) as (c) without keyword enhancement",
    "full_gallery": "stage 2 score over the whole gallery (no shortlist)",
}


class TextBenchConfig(SectionConfig):
    starter: Path = Path("models/starter")
    """folder with video_hash.pt, barlow.pt, text_video.pt"""
    rerank_n: int = 10
    """offline stage 2 shortlist (quality table)"""
    candidates: int = 50
    """served stage 2 candidates N (latency)"""
    queries: int = 5
    """served queries (held-out captions)"""
    filler_videos: int = 10
    """training videos indexed beside the held-out ones"""
    work_dir: Path = Path("var/bench/text")
    """the generated videos are kept here and reused"""


@dataclass
class TextBenchResult:
    config: TextBenchConfig
    machine: MachineInfo
    quality: dict[str, Any] = field(default_factory=dict)
    catalog_videos: int = 0
    reranked_s: list[float] = field(default_factory=list)
    stage1_s: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    served_ranks: list[int] = field(default_factory=list)  # rank of the truth (11 = miss)


def _train_config(checkpoint: Path) -> Any:
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.text_video import TextVideoTrainConfig

    stored = dict(load_checkpoint(checkpoint).config)
    stored.pop("text_model", None)
    return TextVideoTrainConfig.model_validate(stored)


def run_quality(cfg: TextBenchConfig) -> dict[str, Any]:
    """R@1/5/10 and median rank of every variant on the held-out captions."""
    from vidsearch.networks.text_encoder import load_tokenizer
    from vidsearch.training.data import render_corpus
    from vidsearch.training.text_video import (
        caption_set,
        encode_texts,
        frame_features,
        load_text_video,
    )
    from vidsearch.training.text_video_metrics import evaluate_text_video

    checkpoint = cfg.starter / "text_video.pt"
    train_cfg = _train_config(checkpoint)
    model = load_text_video(checkpoint)
    assert model.text_encoder is not None
    d = train_cfg.data
    feats = frame_features(model, render_corpus(d, "val", progress=True))
    seeds = range(d.val_seed_start, d.val_seed_start + d.n_val_videos)
    captions, video = caption_set(seeds, train_cfg)
    texts = encode_texts(model.text_encoder, load_tokenizer(), captions, video, train_cfg)
    return evaluate_text_video(model, feats, texts, cfg.rerank_n)


def _write_videos(cfg: TextBenchConfig, root: Path) -> list[tuple[str, Path]]:
    """Held-out videos (ids ``val-i``) then filler training videos, as H.264 files."""
    from vidsearch.media.synthetic import write_video
    from vidsearch.training.data import render_corpus

    d = _train_config(cfg.starter / "text_video.pt").data
    out: list[tuple[str, Path]] = []
    for split, prefix, limit in (("val", "val", d.n_val_videos),
                                 ("train", "fill", cfg.filler_videos)):  # fmt: skip
        corpus = render_corpus(d, split, progress=True)  # type: ignore[arg-type]
        for i in range(min(limit, corpus.n_videos)):
            path = root / f"{prefix}-{i:04d}.mp4"
            if not path.exists():
                write_video(path, corpus.frames[i].numpy(), corpus.render_fps, crf=18)
            out.append((f"{prefix}-{i:04d}", path))
    return out


def run_latency(cfg: TextBenchConfig, result: TextBenchResult) -> None:
    """SearchByText through the real server: stage 1 only vs stage 1 + 2, interleaved."""
    from vidsearch_client import VideoSearchClient

    from vidsearch.evaluation.systems import export_release
    from vidsearch.training.captions import captions_for

    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    videos = _write_videos(cfg, cfg.work_dir / "videos")
    d = _train_config(cfg.starter / "text_video.pt").data
    with tempfile.TemporaryDirectory(dir=cfg.work_dir) as tmp:
        repo = Path(tmp) / "repo"
        export_release([cfg.starter / n for n in ("video_hash.pt", "barlow.pt",
                                                  "text_video.pt")], repo)  # fmt: skip
        config = loopback_config(repo, Path(tmp))
        config.media.sandbox = False
        with serving(config) as target, VideoSearchClient(target, timeout=300) as client:
            for video_id, path in videos:
                client.index_file(path, video_id)
            result.catalog_videos = client.stats().videos
            n_val = sum(1 for v, _ in videos if v.startswith("val-"))
            queries = [(i % n_val, captions_for(d.val_seed_start + i % n_val, d.duration_s, 1)[0])
                       for i in range(cfg.queries)]  # fmt: skip
            for _, text in queries[:3]:  # warm-up
                client.search_text(text, candidates=cfg.candidates)
            for truth, text in queries:
                for rerank in (False, True):
                    t0 = time.perf_counter()
                    found = client.search_text(text, candidates=cfg.candidates, rerank=rerank,
                                               top_k=10)  # fmt: skip
                    (result.reranked_s if rerank else result.stage1_s).append(
                        time.perf_counter() - t0
                    )
                    if rerank:
                        for stage, seconds in found.stage_seconds.items():
                            result.stages.setdefault(stage, []).append(seconds)
                        ids = [h.video.video_id for h in found.hits]
                        want = f"val-{truth:04d}"
                        result.served_ranks.append(ids.index(want) + 1 if want in ids else 11)


def run(cfg: TextBenchConfig, log: Log = stderr) -> TextBenchResult:
    result = TextBenchResult(cfg, machine_info())
    log("[text_search] quality (offline, held-out captions) ...")
    result.quality = run_quality(cfg)
    log("[text_search] latency (served) ...")
    run_latency(cfg, result)
    return result


def to_markdown(result: TextBenchResult, command: str) -> str:
    cfg, quality = result.config, result.quality
    ms = [1000 * s for s in result.reranked_s]
    base = [1000 * s for s in result.stage1_s]
    ranks = result.served_ranks
    paths = [("stage 1 only (rerank=false)", base), (f"stage 1 + stage 2 (N={cfg.candidates})", ms)]
    hit1 = sum(r <= 1 for r in ranks) / len(ranks)
    hit10 = sum(r <= 10 for r in ranks) / len(ranks)
    return "\n".join([
        section_header(TITLE, command, result.machine),
        f"Quality: {quality['queries']} held-out captions (5 per video) against the "
        f"{quality['gallery']} held-out videos of the training config; same model, same "
        f"features for every row; stage 2 rescores the stage 1 top {cfg.rerank_n} (ranks "
        "beyond it keep stage 1's order).\n",
        table({
            "variant": lambda key: VARIANTS[key],
            "R@1": lambda key: fmt(100 * quality[f"{key}_r1"], 1) + "%",
            "R@5": lambda key: fmt(100 * quality[f"{key}_r5"], 1) + "%",
            "R@10": lambda key: fmt(100 * quality[f"{key}_r10"], 1) + "%",
            "median rank": lambda key: fmt(quality[f"{key}_medr"], 0),
        }, VARIANTS),
        f"Latency: SearchByText through the real gRPC server (ONNX Runtime, Qdrant Edge) "
        f"on loopback, catalog of {result.catalog_videos} videos, N = {cfg.candidates} "
        f"candidates rescored by stage 2, top 10 returned, {len(ms)} queries (held-out "
        "captions), client-side wall time; stage 1 only measured interleaved as baseline.\n",
        table({
            "path": lambda row: row[0],
            "p50 ms": lambda row: fmt(statistics.median(row[1]), 1),
            "p95 ms": lambda row: fmt(percentile(row[1], 95), 1),
            "vs stage 1 p50":
                lambda row: f"{statistics.median(row[1]) / statistics.median(base):.2f}x",
        }, paths),
        "Server-side stages of the stage 1 + 2 requests:\n",
        table({
            "stage": lambda item: item[0],
            "p50 ms": lambda item: fmt(1000 * statistics.median(item[1]), 2),
            "p95 ms": lambda item: fmt(1000 * percentile(item[1], 95), 2),
        }, result.stages.items()),
        f"Served retrieval on this catalog (held-out videos plus training filler): truth at "
        f"rank 1 for {100 * hit1:.1f}% of the queries, in the top 10 for {100 * hit10:.1f}%.",
    ])  # fmt: skip
