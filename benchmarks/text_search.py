"""Text -> video: retrieval quality of every variant on a test split asked in held-out wording
(``training.text_video_metrics``), the semantic encoder's per-fact accuracy, and SearchByText
through the real server, stage 1 only vs stage 1 + 2 interleaved (sections/text_search.md)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import harness as bench

TEST_SEEDS = 950_000  # text test split: disjoint from training [0, n) and validation 900_000+


class TextBenchConfig(bench.SectionConfig):
    starter: Path = Path("models/starter")
    """folder with video_hash.pt, barlow.pt, text_video.pt"""
    baseline: Path | None = None
    """optional text_video.pt trained on the copy descriptor (encoder comparison row)"""
    test_videos: int = 200
    """held-out test videos (seeds from 950000)"""
    rerank_n: int = 10
    """offline stage 2 shortlist (quality table)"""
    candidates: int = 50
    """served stage 2 candidates N (latency)"""
    queries: int = 5
    """served queries (held-out captions of test videos)"""
    filler_videos: int = 10
    """unseen videos (the test split's next seeds) indexed beside the test ones"""
    work_dir: Path = Path("var/bench/text")
    """the generated videos are kept here and reused"""


@dataclass
class TextBenchResult(bench.SectionResult[TextBenchConfig]):
    quality: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, float] = field(default_factory=dict)
    catalog_videos: int = 0
    rewrites: list[tuple[str, str]] = field(default_factory=list)  # the thesaurus's, as served
    reranked_ms: list[float] = field(default_factory=list)  # client-side wall time
    stage1_ms: list[float] = field(default_factory=list)
    stages_ms: dict[str, list[float]] = field(default_factory=dict)  # server-side, reranked
    served_ranks: list[int] = field(default_factory=list)  # rank of the truth (11 = miss)


def _as(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    """The (c) metrics of another run, renamed as the row ``name``."""
    return {k.replace("stage2", name): v for k, v in metrics.items()
            if k.startswith("stage2_") and "no_kw" not in k}  # fmt: skip


def _gap_recall(model: Any, feats: Any, seeds: range, duration_s: float) -> dict[str, Any]:
    """Where the wording gap comes from: stage 1 recall (global text features only) of the
    test videos asked in TRAIN's templates with one or all of HELD_OUT's synonym tables, or
    in HELD_OUT's templates with TRAIN's synonyms (full captions: no short queries).
    Benchmark only; nothing trains on these."""
    from dataclasses import replace

    import torch

    from vidsearch.networks.text_encoder import load_tokenizer, tokenize
    from vidsearch.training import text_video_metrics as tvm
    from vidsearch.training.captions import HELD_OUT, TRAIN, captions_for

    full = replace(TRAIN, varied=False)
    tables = ("shapes", "sizes", "motions", "textures")
    wordings = {"gap_train_full": full,
                "gap_held_synonyms": replace(full, **{t: getattr(HELD_OUT, t) for t in tables}),
                "gap_held_templates": replace(HELD_OUT, **{t: getattr(TRAIN, t) for t in tables}),
                "gap_held_shapes": replace(full, shapes=HELD_OUT.shapes),
                "gap_held_textures": replace(full, textures=HELD_OUT.textures)}  # fmt: skip
    tokenizer, out = load_tokenizer(), dict[str, Any]()
    with torch.no_grad():
        emb = model.video.from_features(feats)[0]
        for name, wording in wordings.items():
            captions = [c for s in seeds for c in captions_for(s, duration_s, 5, wording)]
            ids, mask = tokenize(tokenizer, captions, 64)
            text = torch.cat([model.text_encoder(ids[i:i + 64], mask[i:i + 64])[1]
                              for i in range(0, len(captions), 64)])  # fmt: skip
            truth = torch.arange(len(seeds)).repeat_interleave(5)
            scores = model.scorer.text.embedding(text) @ emb.T
            out |= tvm.recall_metrics(tvm.rank_of_truth(scores, truth), name)
    return out


def served_rewrite() -> Any:
    """How the server rewrites a query's unseen words (``TextModels.query_text``, with the
    vocabulary the exporter writes from ``training_vocabulary``); None without WordNet."""
    from vidsearch.config import TextSearchConfig
    from vidsearch.contract.thesaurus import rewriter
    from vidsearch.training.captions import training_vocabulary

    served = TextSearchConfig()
    return rewriter(served.thesaurus, training_vocabulary(), served.thesaurus_senses)


def _quality(checkpoint: Path, cfg: TextBenchConfig, rewrite: Any
             ) -> tuple[dict[str, Any], Any, Any, Any]:
    """Every variant's recall on the test split, queries embedded as served (and the
    held-out ones as written too); also the model, its data settings and the test corpus
    (the facts are scored on the same)."""
    from vidsearch.networks.text_encoder import load_tokenizer
    from vidsearch.training import text_video as tv
    from vidsearch.training import text_video_metrics as tvm
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.data import render_corpus

    stored = dict(load_checkpoint(checkpoint).config)
    stored.pop("text_model", None)
    train_cfg = tv.TextVideoTrainConfig.model_validate(stored)
    # its data settings with the test seeds as the held-out split
    d = train_cfg.data.model_copy(update={
        "val_seed_start": TEST_SEEDS, "n_val_videos": cfg.test_videos, "photo_videos": 0})
    train_cfg = train_cfg.model_copy(update={"captions_per_video": 5})
    model = tv.load_text_video(checkpoint)
    encoder = model.text_encoder
    assert encoder is not None
    corpus = render_corpus(d, "val", progress=True)
    feats = tv.frame_features(model, corpus)
    seeds = range(TEST_SEEDS, TEST_SEEDS + cfg.test_videos)
    test_cfg = train_cfg.model_copy(update={"data": d})

    def texts(held_out: bool, as_served: bool = True) -> Any:
        captions, video = tv.caption_set(seeds, test_cfg, held_out=held_out)
        if as_served and rewrite is not None:
            captions = [rewrite(c) for c in captions]
        return tv.encode_texts(encoder, load_tokenizer(), captions, video, train_cfg)

    ranks = tvm.variant_ranks(model, feats, texts(held_out=True), cfg.rerank_n)
    seen = tvm.evaluate_text_video(model, feats, texts(held_out=False), cfg.rerank_n)
    written = {} if rewrite is None else _as(tvm.evaluate_text_video(
        model, feats, texts(held_out=True, as_served=False), cfg.rerank_n), "as_written")
    return (tvm.summarise(ranks, int(feats.shape[0]), cfg.rerank_n)
            # the last caption of each video is its compositional query
            | tvm.recall_metrics(ranks["stage2"][4::5], "compositional")
            # the same videos in the training captions' wording: how much is the wording gap
            | _as(seen, "train_wording") | written
            | _gap_recall(model, feats, seeds, d.duration_s)), model, d, corpus


def run_quality(cfg: TextBenchConfig, result: TextBenchResult) -> Any:
    """Recall of every variant and per-fact accuracy of the semantic encoder (test split);
    returns the test split's data settings."""
    from vidsearch.networks.semantic import SemanticEncoder
    from vidsearch.training.semantic import corpus_labels, scene_accuracy, shape_accuracy

    rewrite = served_rewrite()
    result.quality, model, d, corpus = _quality(cfg.starter / "text_video.pt", cfg, rewrite)
    if rewrite is not None:
        from vidsearch.training.captions import held_out_captions

        words = {w.strip(",.") for seed in range(TEST_SEEDS, TEST_SEEDS + cfg.test_videos)
                 for c in held_out_captions(seed, d.duration_s) for w in c.lower().split()}
        result.rewrites = sorted((w, r) for w in words if (r := rewrite(w)) != w)
    if cfg.baseline is not None:
        result.quality |= _as(_quality(cfg.baseline, cfg, rewrite)[0], "baseline")
    if isinstance(encoder := model.video.encoder, SemanticEncoder):
        labels = corpus_labels(d, corpus, "val", encoder.cfg.grid)
        result.facts = scene_accuracy(encoder, corpus, labels) | shape_accuracy(
            encoder, corpus, labels)
    return d


def _write_videos(cfg: TextBenchConfig, d: Any, root: Path) -> list[tuple[str, Path]]:
    """Test videos (ids ``test-i``) then unseen filler videos (the next test seeds), as H.264."""
    from vidsearch.media.synthetic import write_video
    from vidsearch.training.data import render_corpus

    corpus = render_corpus(d.model_copy(update={"n_val_videos": cfg.test_videos
                                                + cfg.filler_videos}), "val", progress=True)
    out: list[tuple[str, Path]] = []
    for i in range(corpus.n_videos):
        name = f"test-{i:04d}" if i < cfg.test_videos else f"fill-{i - cfg.test_videos:04d}"
        if not (path := root / f"{name}.mp4").exists():
            write_video(path, corpus.frames[i].numpy(), corpus.render_fps, crf=18)
        out.append((name, path))
    return out


def run_latency(cfg: TextBenchConfig, d: Any, result: TextBenchResult) -> None:
    """SearchByText through the real server: stage 1 only vs stage 1 + 2, interleaved."""
    from vidsearch_client import VideoSearchClient

    from vidsearch.config import embedded_loopback_config
    from vidsearch.evaluation.systems import export_release
    from vidsearch.training.captions import held_out_captions

    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    videos = _write_videos(cfg, d, cfg.work_dir / "videos")
    n_test = sum(v.startswith("test-") for v, _ in videos)
    # Spread over the test videos and over the five held-out wordings of each.
    queries = [(i % n_test, held_out_captions(TEST_SEEDS + i % n_test, d.duration_s)[
        (i // n_test + i) % 5]) for i in range(cfg.queries)]  # fmt: skip
    with bench.scratch("text", cfg.work_dir) as root:
        repo = root / "repo"
        export_release([cfg.starter / n for n in ("video_hash.pt", "barlow.pt",
                                                  "text_video.pt")], repo)  # fmt: skip
        config = embedded_loopback_config(repo, root)
        config.media.sandbox = False
        with bench.serving(config) as (target, _), VideoSearchClient(target, timeout=300) as client:
            for video_id, path in videos:
                client.index_file(path, video_id)
            result.catalog_videos = client.stats().videos

            def ask(i: int, rerank: bool) -> tuple[int, Any]:
                truth, text = queries[i % len(queries)]
                return truth, client.search_text(text, candidates=cfg.candidates,
                                                 rerank=rerank, top_k=10)  # fmt: skip

            stage1, reranked = bench.alternate(lambda i: ask(i, False), lambda i: ask(i, True),
                                               len(queries), min(3, len(queries)))  # fmt: skip
    result.stage1_ms, result.reranked_ms = bench.wall_ms(stage1), bench.wall_ms(reranked)
    result.stages_ms = bench.stages_ms(found for (_, found), _, _ in reranked)
    for (truth, found), _, _ in reranked:
        ids = [h.video.video_id for h in found.hits]
        want = f"test-{truth:04d}"
        result.served_ranks.append(ids.index(want) + 1 if want in ids else 11)


def run(cfg: TextBenchConfig, log: bench.Log = bench.stderr) -> TextBenchResult:
    result = TextBenchResult(cfg)
    log("[text_search] quality (offline, test split, held-out wording) ...")
    d = run_quality(cfg, result)
    log("[text_search] latency (served) ...")
    run_latency(cfg, d, result)
    return result.finished()


def to_markdown(result: TextBenchResult, command: str) -> str:
    ranks, stage1_ms = result.served_ranks, result.stage1_ms
    return bench.render(
        "text_search", result, command, test_seeds=TEST_SEEDS, stages=[*result.stages_ms.items()],
        ratio=statistics.median(result.reranked_ms) / statistics.median(stage1_ms),
        top1=100 * sum(r <= 1 for r in ranks) / len(ranks),
        top10=100 * sum(r <= 10 for r in ranks) / len(ranks),
        rewrites_text=", ".join(f"'{a}' as '{b}'" for a, b in result.rewrites) or "none",
    )  # fmt: skip
