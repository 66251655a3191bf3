"""`vidsearch eval`: build (or reuse) the copy-detection benchmark and write the quality table."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="quality benchmark: µAP, recall@k, segment IoU vs a perceptual-hash baseline",
        description=(
            "Builds a generated copy-detection benchmark if --corpus does not hold one yet "
            "(150 references, 200 queries: 60%% transformed copies of a reference segment, "
            "40%% unseen negatives), runs every system end to end through the serving path, "
            "and writes the quality table into the 'quality' section of --out."
        ),
    )
    parser.add_argument("--corpus", type=Path, default=Path("var/bench/corpus"))
    parser.add_argument("--checkpoints", type=Path, default=Path("models/starter"))
    parser.add_argument("--references", type=int, default=150)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-variants", action="store_true", help="skip Formula 8 / fixed margin")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--json", type=Path, default=Path("var/bench/quality.json"))
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch.bench.report import machine_info, section_header, update_section
    from vidsearch.evaluation.benchmark import evaluate, save_rows, to_markdown
    from vidsearch.media.corpus import build_copy_benchmark, load_manifest

    machine = machine_info()  # load average before the run, not after
    if not (args.corpus / "manifest.json").is_file():
        build_copy_benchmark(
            args.corpus,
            n_references=args.references,
            n_queries=args.queries,
            seed=args.seed,
            progress=not args.no_progress,
        )
    manifest = load_manifest(args.corpus)
    positives = sum(q.positive for q in manifest.queries)
    rows = evaluate(
        args.corpus, args.checkpoints, variants=not args.no_variants, progress=not args.no_progress
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    save_rows(rows, args.json)
    summary = (
        f"Corpus: {len(manifest.references)} generated reference videos, "
        f"{len(manifest.queries)} queries ({positives} transformed copies of a reference "
        f"segment under 1-3 chained transforms, {len(manifest.queries) - positives} unseen "
        "negatives), seed "
        f"{args.seed}. µAP pools all (query, reference, score) predictions (VSC 2022); "
        "R@k over queries with a match; segment IoU = mean of query- and reference-side "
        "temporal IoU of the top hit (0 when the top hit is wrong)."
    )
    command = ".venv/bin/vidsearch eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    markdown = section_header("Copy-detection quality", command.strip(), machine)
    update_section(args.out, "quality", markdown + "\n" + to_markdown(rows, summary))
    print(to_markdown(rows, summary))
    return 0
