"""Seed 003 benchmark: text->video quality (ablations a-d) and SearchByText latency.

    python -m vidsearch.bench.text_search --out BENCHMARKS.md [--candidates 50] [--queries 50]

Quality is offline, one run over the held-out captioned videos of the training config
(every caption queries the held-out gallery), the four variants from the same model and
features (``evaluation.text_video``). Latency is served: the starter release (with the
text models) behind the real gRPC server on loopback, the held-out videos written as
H.264 files plus training videos as filler so the catalog holds more than N videos; each
query is a held-out caption sent through the SDK, stage 1 only and stage 1 + stage 2
(N candidates) interleaved, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidsearch.bench.report import (
    fmt,
    machine_info,
    md_table,
    percentile,
    section_header,
    update_section,
)

PROG = "python -m vidsearch.bench.text_search"
SECTION = "text_search"
VARIANTS = (
    ("meanpool", "(a) mean-pooled video vs global text"),
    ("stage1", "(b) stage 1 only: query-independent embedding (what Qdrant serves)"),
    ("stage2", "(c) stage 1 + text-conditioned stage 2"),
    ("stage2_no_kw", "(d) as (c) without keyword enhancement"),
    ("full_gallery", "stage 2 score over the whole gallery (no shortlist)"),
)


@dataclass(frozen=True)
class TextBenchConfig:
    starter: Path = Path("models/starter")
    rerank_n: int = 10
    candidates: int = 50
    queries: int = 50
    filler_videos: int = 60
    work_dir: Path = Path("var/bench/text")

    def argv(self) -> list[str]:
        return ["--starter", str(self.starter), "--rerank-n", str(self.rerank_n),
                "--candidates", str(self.candidates), "--queries", str(self.queries),
                "--filler-videos", str(self.filler_videos), "--work-dir", str(self.work_dir)]


@dataclass
class LatencyResult:
    catalog_videos: int
    reranked_s: list[float] = field(default_factory=list)
    stage1_s: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    served_ranks: list[int] = field(default_factory=list)  # rank of the truth (top_k+1 = miss)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _train_config(checkpoint: Path) -> Any:
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.text_video import TextVideoTrainConfig

    stored = dict(load_checkpoint(checkpoint).config)
    stored.pop("text_model", None)
    return TextVideoTrainConfig.model_validate(stored)


def run_quality(cfg: TextBenchConfig) -> dict[str, Any]:
    """R@1/5/10 and median rank of every variant on the held-out captions."""
    from vidsearch.evaluation.text_video import evaluate_text_video
    from vidsearch.networks.text_encoder import load_tokenizer
    from vidsearch.training.data import render_corpus
    from vidsearch.training.text_video import (
        caption_set,
        encode_texts,
        frame_features,
        load_text_video,
    )

    checkpoint = cfg.starter / "text_video.pt"
    train_cfg = _train_config(checkpoint)
    model = load_text_video(checkpoint)
    assert model.text_encoder is not None
    d = train_cfg.data
    val = render_corpus(d, "val", progress=True)
    feats = frame_features(model, val)
    captions, video = caption_set(range(d.val_seed_start, d.val_seed_start + d.n_val_videos),
                                  train_cfg)
    texts = encode_texts(model.text_encoder, load_tokenizer(), captions, video, train_cfg)
    return evaluate_text_video(model, feats, texts, cfg.rerank_n)


def _write_videos(cfg: TextBenchConfig, root: Path) -> list[tuple[str, Path]]:
    """Held-out videos (ids ``val-i``) then filler training videos, as H.264 files."""
    from vidsearch.media.synthetic import write_video
    from vidsearch.training.data import render_corpus

    d = _train_config(cfg.starter / "text_video.pt").data
    out: list[tuple[str, Path]] = []
    for split, prefix, limit in (("val", "val", d.n_val_videos), ("train", "fill",
                                                                   cfg.filler_videos)):
        corpus = render_corpus(d, split, progress=True)  # type: ignore[arg-type]
        for i in range(min(limit, corpus.n_videos)):
            path = root / f"{prefix}-{i:04d}.mp4"
            if not path.exists():
                write_video(path, corpus.frames[i].numpy(), corpus.render_fps, crf=18)
            out.append((f"{prefix}-{i:04d}", path))
    return out


def run_latency(cfg: TextBenchConfig) -> LatencyResult:
    """SearchByText through the real server: stage 1 only vs stage 1 + 2, interleaved."""
    from vidsearch_client import VideoSearchClient

    from vidsearch.config import VidsearchConfig
    from vidsearch.evaluation.systems import export_release
    from vidsearch.orchestrator.factory import build_orchestrator
    from vidsearch.service.server import build_server
    from vidsearch.training.captions import captions_for

    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    videos = _write_videos(cfg, cfg.work_dir / "videos")
    d = _train_config(cfg.starter / "text_video.pt").data
    with tempfile.TemporaryDirectory(dir=cfg.work_dir) as tmp:
        repo = Path(tmp) / "repo"
        export_release([cfg.starter / n for n in ("video_hash.pt", "barlow.pt",
                                                  "text_video.pt")], repo)
        config = VidsearchConfig()
        config.inference.model_repository = repo
        config.catalog.path = Path(tmp) / "catalog"
        config.server.port = config.server.metrics_port = 0
        config.server.upload_dir = Path(tmp) / "uploads"
        config.media.sandbox = False
        orchestrator = build_orchestrator(config)
        running = build_server(config, orchestrator)
        try:
            client = VideoSearchClient(running.target, timeout=300)
            for video_id, path in videos:
                client.index_file(path, video_id)
            result = LatencyResult(catalog_videos=client.stats().videos)
            n_val = sum(1 for v, _ in videos if v.startswith("val-"))
            queries = [(i % n_val, captions_for(d.val_seed_start + i % n_val, d.duration_s, 1)[0])
                       for i in range(cfg.queries)]
            for _, text in queries[:3]:  # warm-up
                client.search_text(text, candidates=cfg.candidates)
            for truth, text in queries:
                for rerank in (False, True):
                    t0 = time.perf_counter()
                    found = client.search_text(text, candidates=cfg.candidates, rerank=rerank,
                                               top_k=10)
                    wall = time.perf_counter() - t0
                    (result.reranked_s if rerank else result.stage1_s).append(wall)
                    if rerank:
                        for stage, seconds in found.stage_seconds.items():
                            result.stages.setdefault(stage, []).append(seconds)
                        ids = [h.video.video_id for h in found.hits]
                        want = f"val-{truth:04d}"
                        result.served_ranks.append(ids.index(want) + 1 if want in ids else 11)
            return result
        finally:
            running.stop(grace=1.0)
            orchestrator.close()


def to_markdown(quality: dict[str, Any], latency: LatencyResult, cfg: TextBenchConfig,
                command: str) -> str:
    rows = [[label, fmt(100 * quality[f"{key}_r1"], 1) + "%", fmt(100 * quality[f"{key}_r5"], 1)
             + "%", fmt(100 * quality[f"{key}_r10"], 1) + "%", fmt(quality[f"{key}_medr"], 0)]
            for key, label in VARIANTS]
    ms = [1000 * s for s in latency.reranked_s]
    base = [1000 * s for s in latency.stage1_s]
    ratio = statistics.median(ms) / statistics.median(base)
    stage_rows = [[name, fmt(1000 * statistics.median(v), 2), fmt(1000 * percentile(v, 95), 2)]
                  for name, v in latency.stages.items()]
    ranks = latency.served_ranks
    hit1 = sum(r <= 1 for r in ranks) / len(ranks)
    hit10 = sum(r <= 10 for r in ranks) / len(ranks)
    return "\n".join([
        section_header("Text → video (seed 003)", command, machine_info()),
        f"Quality: {quality['queries']} held-out captions (5 per video) against the "
        f"{quality['gallery']} held-out videos of the training config; same model, same "
        f"features for every row; stage 2 rescores the stage 1 top {cfg.rerank_n} (ranks "
        "beyond it keep stage 1's order).\n",
        md_table(("variant", "R@1", "R@5", "R@10", "median rank"), rows),
        "",
        f"Latency: SearchByText through the real gRPC server (ONNX Runtime, Qdrant Edge) "
        f"on loopback, catalog of {latency.catalog_videos} videos, N = {cfg.candidates} "
        f"candidates rescored by stage 2, top 10 returned, {len(ms)} queries (held-out "
        "captions), client-side wall time; stage 1 only measured interleaved as baseline.\n",
        md_table(("path", "p50 ms", "p95 ms", "vs stage 1 p50"), [
            ["stage 1 only (rerank=false)", fmt(statistics.median(base), 1),
             fmt(percentile(base, 95), 1), "1.00x"],
            [f"stage 1 + stage 2 (N={cfg.candidates})", fmt(statistics.median(ms), 1),
             fmt(percentile(ms, 95), 1), f"{ratio:.2f}x"],
        ]),
        "",
        "Server-side stages of the stage 1 + 2 requests:\n",
        md_table(("stage", "p50 ms", "p95 ms"), stage_rows),
        "",
        f"Served retrieval on this catalog (held-out videos plus training filler): truth at "
        f"rank 1 for {100 * hit1:.1f}% of the queries, in the top 10 for {100 * hit10:.1f}%.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = TextBenchConfig()
    parser.add_argument("--out", default="BENCHMARKS.md", help="markdown file to update")
    parser.add_argument("--starter", type=Path, default=defaults.starter,
                        help="folder with video_hash.pt, barlow.pt, text_video.pt")
    parser.add_argument("--rerank-n", type=int, default=defaults.rerank_n,
                        help="offline stage 2 shortlist (quality table)")
    parser.add_argument("--candidates", type=int, default=defaults.candidates,
                        help="served stage 2 candidates N (latency)")
    parser.add_argument("--queries", type=int, default=defaults.queries)
    parser.add_argument("--filler-videos", type=int, default=defaults.filler_videos,
                        help="training videos indexed beside the held-out ones")
    parser.add_argument("--work-dir", type=Path, default=defaults.work_dir)
    args = parser.parse_args(argv)
    cfg = TextBenchConfig(args.starter, args.rerank_n, args.candidates, args.queries,
                          args.filler_videos, args.work_dir)
    command = shlex.join([*PROG.split(), "--out", args.out, *cfg.argv()])
    _log("quality (offline, held-out captions) ...")
    quality = run_quality(cfg)
    _log("latency (served) ...")
    latency = run_latency(cfg)
    update_section(args.out, SECTION, to_markdown(quality, latency, cfg, command))
    _log(f"wrote section {SECTION!r} of {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
