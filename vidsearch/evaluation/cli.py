"""`vidsearch eval`: build (or reuse) the copy-detection benchmark and write the quality table;
`vidsearch eval tags`: the tag suggestion section; `vidsearch eval captions`: caption quality;
`vidsearch eval sentences`: SearchBySentence and SearchByAudio retrieval, word error rate."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from vidsearch.evaluation.spoken import SPEEDS, VOICES

QUICK = (30, 40)  # references, queries of a --quick smoke run


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="quality benchmark: µAP, recall@k, segment IoU vs a perceptual-hash baseline",
        description=(
            "Builds the copy-detection benchmark if --corpus does not hold one yet (150 "
            "references from real video windows, natural photos through camera paths and "
            "procedural videos; 200 queries: 60% copies of a reference segment under 1-3 "
            "edit families, 40% negatives of which 40% hard), runs the perceptual-hash "
            "baselines and every system end to end through the serving path, and writes "
            "the quality tables into the 'quality' section of --out. Real material is for "
            "evaluation only: needs opencv-doc and the `bench` extra."
        ),
    )
    parser.add_argument("--corpus", type=Path, default=Path("var/bench/corpus"),
                        help="benchmark folder: used as it is when it holds a manifest.json "
                        "(--references/--queries/--seed then only apply to a new folder), "
                        "built there otherwise (default: %(default)s)")
    parser.add_argument("--checkpoints", type=Path, default=Path("models/starter"),
                        help="folder the systems' checkpoints are relative to "
                        "(default: %(default)s)")
    parser.add_argument("--references", type=int, default=150,
                        help="reference videos indexed (default: %(default)s)")
    parser.add_argument("--queries", type=int, default=200,
                        help="queries searched, 40%% of them negatives (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="corpus seed of a new --corpus: another seed draws another "
                        "sample (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="processes building the corpus")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK[0]} references, {QUICK[1]} queries")
    parser.add_argument("--systems", type=Path, default=None,
                        help="YAML list of systems (checkpoints, mode, config overrides) "
                        "instead of the default starter + variants rows")
    parser.add_argument("--no-variants", action="store_true", help="skip Formula 8 / fixed margin")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"),
                        help="markdown file whose 'quality' section is rewritten "
                        "(default: %(default)s)")
    parser.add_argument("--json", type=Path, default=Path("var/bench/quality.json"),
                        help="every row's figures and per-query predictions, for later "
                        "analysis (default: %(default)s)")
    parser.add_argument("--section", default="quality",
                        help="the section of --out to rewrite, e.g. quality_ablations for the "
                        "training ablations, which keeps the main table (default: %(default)s)")
    parser.add_argument("--title", default="Copy-detection quality",
                        help="the section's heading (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (for logs and CI)")
    parser.set_defaults(func=run)
    targets = parser.add_subparsers(dest="eval_target", metavar="TARGET")
    tags = targets.add_parser(
        "tags", help="tag suggestions: seen / hot tags, distractors, ablations",
        description="Evaluates a tags checkpoint on the test seeds of its data config (the "
                    "cached features; rendered if absent): Hit@1, R@5, P@5, mAP for the seen "
                    "and the hot tags, distractors in the top 5, each modality alone, titles "
                    "clean / noisy / wrong / missing, the untrained MiniLM title baseline, "
                    "and fusions and mining variants trained at an ablation budget. Writes "
                    "the 'tags' section of --out.")
    tags.add_argument("--checkpoint", type=Path, default=Path("models/starter/tags.pt"))
    tags.add_argument("--summary", type=Path, default=Path("models/starter/tags_summary.json"),
                      help="training summary whose wall time the section quotes")
    tags.add_argument("--ablations", type=Path, default=Path("var/tag_ablations"),
                      help="where the ablation models are trained (reused when unchanged)")
    tags.add_argument("--ablation-rounds", type=int, default=None,
                      help="mining rounds of each ablation (default: the checkpoint's)")
    tags.add_argument("--no-ablations", action="store_true", help="skip the trained ablations")
    tags.add_argument("--long-videos", type=int, default=40,
                      help="long test videos for O vs P×O sampling (0: skip)")
    tags.add_argument("--long-seconds", type=float, default=48.0)
    tags.add_argument("--windows", type=int, default=3, help="P of P×O on the long videos")
    tags.add_argument("--scene-weight", type=float, default=None,
                      help="weight of a tag's best scene beside the whole video (default: "
                      "the serving default, tags.scene_weight; 0: the whole video only)")
    tags.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    tags.add_argument("--json", type=Path, default=Path("var/bench/tags.json"))
    tags.add_argument("--no-progress", action="store_true")
    tags.set_defaults(func=run_tags)
    captions = targets.add_parser(
        "captions", help="captions: BLEU-4, ROUGE-L, CIDEr-D, METEOR, fact accuracy",
        description="Decodes the test split of a captioner checkpoint's data config (cached "
                    "semantic frame features; rendered if absent) greedily and by beam "
                    "search, and scores the sentences against the videos' reference captions "
                    "(pycocoevalcap; METEOR and the PTB tokenizer need Java) and the "
                    "renderer's facts (colour, shape, size, motion). Writes the 'captions' "
                    "section of --out and the full result (with example sentences) to --json.")
    captions.add_argument("--checkpoint", type=Path,
                          default=Path("models/starter/captioner.pt"))
    captions.add_argument("--decoding", choices=["greedy", "beam", "both"], default="both")
    captions.add_argument("--beam", type=int, default=None, help="default: the checkpoint's")
    captions.add_argument("--length-alpha", type=float, default=None,
                          help="beam length normalisation (default: the checkpoint's)")
    captions.add_argument("--videos", type=int, default=None, help="test videos (default: all)")
    captions.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    captions.add_argument("--json", type=Path, default=Path("var/bench/captions.json"))
    captions.add_argument("--no-progress", action="store_true")
    captions.set_defaults(func=run_captions)
    sentences = targets.add_parser(
        "sentences", help="SearchBySentence / SearchByAudio: R@1/5/10, ceiling, spoken WER",
        description="Indexes the captioner's test videos through the serving code in this "
                    "process (ONNX Runtime, Qdrant Edge; captions from the served captioner), "
                    "asks for each with a training-wording caption that is not one of its "
                    "references (SearchBySentence; also SearchByText and a held-out-wording "
                    "query), and for a ceiling with a true caption stored instead of the "
                    "generated one; then speaks a subsample of the queries with espeak-ng "
                    "(each voice and speed, clean and noisy) through SearchByAudio: word "
                    "error rate, recognition time, spoken vs typed R@5. Writes the "
                    "'sentences' section of --out and the figures to --json.")
    sentences.add_argument("--checkpoint", type=Path,
                           default=Path("models/starter/captioner.pt"),
                           help="captioner whose data config names the test videos")
    sentences.add_argument("--repository", type=Path, default=Path("model_repository"),
                           help="exported model repository served (`make export`)")
    sentences.add_argument("--videos", type=int, default=None,
                           help="test videos indexed (default: the data config's n_test)")
    sentences.add_argument("--queries", type=int, default=40,
                           help="spoken queries per voice condition (default: %(default)s)")
    sentences.add_argument("--voices", nargs="+", default=list(VOICES),
                           help="espeak-ng voices (default: %(default)s)")
    sentences.add_argument("--speeds", nargs="+", type=int, default=list(SPEEDS),
                           help="words per minute (default: %(default)s)")
    sentences.add_argument("--snr-db", type=float, default=15.0,
                           help="signal-to-noise ratio of the noisy condition")
    sentences.add_argument("--work-dir", type=Path, default=Path("var/bench/sentences"),
                           help="rendered videos and speech are kept here and reused")
    sentences.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    sentences.add_argument("--json", type=Path, default=Path("var/bench/sentences.json"))
    sentences.add_argument("--no-progress", action="store_true")
    sentences.set_defaults(func=run_sentences)


def corpus_summary(manifest: Any, seed: int) -> str:
    positives = [q for q in manifest.queries if q.positive]
    negatives = [q for q in manifest.queries if not q.positive]
    hard = sum(q.hard_negative for q in negatives)
    kinds = Counter(r.source_type for r in manifest.references)
    mix = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return (
        f"Corpus: {len(manifest.references)} reference videos ({mix}), "
        f"{len(manifest.queries)} queries ({len(positives)} edited copies of a reference "
        f"segment under 1-3 edit families, {len(negatives)} negatives of which {hard} hard: "
        "another window of an indexed static camera or another half of an indexed photo), "
        f"seed {seed}. µAP pools all (query, reference, score) predictions (VSC 2022); "
        "R@k over queries with a match; segment IoU = mean of query- and reference-side "
        "temporal IoU of the top hit (0 when the top hit is wrong); µAP / pHash against the "
        "plain pHash row of the same run; index ms per video s = wall time to index every "
        "reference / their total duration."
    )


def run(args: argparse.Namespace) -> int:
    from vidsearch.evaluation.benchmark import evaluate, load_systems, save_rows, to_markdown
    from vidsearch.evaluation.report import machine_info, section_header, update_section
    from vidsearch.media.corpus import build_copy_benchmark, load_manifest

    machine = machine_info()  # load average before the run, not after
    n_refs, n_queries = QUICK if args.quick else (args.references, args.queries)
    if not (args.corpus / "manifest.json").is_file():
        build_copy_benchmark(
            args.corpus,
            n_references=n_refs,
            n_queries=n_queries,
            seed=args.seed,
            progress=not args.no_progress,
            workers=args.workers,
        )
    manifest = load_manifest(args.corpus)
    systems = load_systems(args.systems, args.checkpoints) if args.systems else None
    skipped: list[str] = []
    rows = evaluate(
        args.corpus, args.checkpoints, variants=not args.no_variants,
        progress=not args.no_progress, systems=systems, skipped=skipped,
    )  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    save_rows(rows, args.json)
    summary = corpus_summary(manifest, int(manifest.params.get("seed", args.seed)))
    table = to_markdown(rows, summary, manifest, skipped)
    command = ".venv/bin/vidsearch eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    markdown = section_header(args.title, command.strip(), machine)
    update_section(args.out, args.section, markdown + "\n" + table)
    print(table)
    return 0


def run_captions(args: argparse.Namespace) -> int:
    import json

    from vidsearch.evaluation.captions import to_markdown
    from vidsearch.evaluation.report import machine_info, section_header, update_section
    from vidsearch.training.captioner import evaluate_checkpoint

    machine = machine_info()

    overrides: dict[str, Any] = {}
    for key, value in (("beam", args.beam), ("length_alpha", args.length_alpha),
                       ("n_test", args.videos)):
        if value is not None:
            overrides[key] = value
    decodings = ["greedy", "beam"] if args.decoding == "both" else [args.decoding]
    result = evaluate_checkpoint(args.checkpoint, decodings, progress=not args.no_progress,
                                 **overrides)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    body = to_markdown(result)
    command = ".venv/bin/vidsearch eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    update_section(args.out, "captions", section_header(
        "Captions (test split)", command.strip(), machine) + "\n" + body)
    print(body)
    return 0


def run_sentences(args: argparse.Namespace) -> int:
    import json

    from vidsearch.evaluation.report import machine_info, section_header, update_section
    from vidsearch.evaluation.sentences import SentenceEvalOptions, evaluate_sentences
    from vidsearch.evaluation.sentences_report import to_markdown

    machine = machine_info()
    result = evaluate_sentences(SentenceEvalOptions(
        checkpoint=args.checkpoint, repository=args.repository, videos=args.videos,
        queries=args.queries, voices=tuple(args.voices), speeds=tuple(args.speeds),
        snr_db=args.snr_db, work_dir=args.work_dir, progress=not args.no_progress))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    body = to_markdown(result)
    command = ".venv/bin/vidsearch eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    update_section(args.out, "sentences", section_header(
        "Sentence and spoken-query retrieval (test split)", command.strip(), machine)
        + "\n" + body)
    print(body)
    return 0


def run_tags(args: argparse.Namespace) -> int:
    import json

    from vidsearch.config import TagsConfig
    from vidsearch.evaluation.report import machine_info, section_header, update_section
    from vidsearch.evaluation.tags import evaluate_tags, save_json, to_markdown
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.tag_training import training_config

    machine = machine_info()
    cfg = training_config(load_checkpoint(args.checkpoint))
    weight = TagsConfig().scene_weight if args.scene_weight is None else args.scene_weight
    result = evaluate_tags(args.checkpoint,
                           ablations=None if args.no_ablations else args.ablations,
                           ablation_rounds=args.ablation_rounds,
                           long_videos=args.long_videos, long_s=args.long_seconds,
                           windows=args.windows, scene_weight=weight,
                           progress=not args.no_progress)
    save_json(result, args.json)
    summary = json.loads(args.summary.read_text()) if args.summary.is_file() else None
    body = to_markdown(result, cfg.model.fusion, summary, cfg.data.n_test,
                       weight if cfg.mining.distance == "cosine" else 0.0, cfg.model.scenes)
    command = ".venv/bin/vidsearch eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    markdown = section_header("Tag suggestions", command.strip(), machine)
    update_section(args.out, "tags", markdown + "\n" + body)
    print(body)
    return 0
