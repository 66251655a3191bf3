"""``vidsearch corpus sample|benchmark``: write a demo corpus, or the copy-detection
benchmark (references, edited queries, ground truth; see ``vidsearch.media.corpus``).

Apart from the corpus builder so that ``vidsearch --help`` does not import PyAV.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidsearch.media.corpus import BenchmarkManifest

QUICK = (30, 40)  # references, queries of a --quick smoke run


def _summary(m: BenchmarkManifest) -> str:
    from vidsearch.media.corpus import MANIFEST_NAME

    pos = sum(q.positive for q in m.queries)
    return (f"{len(m.references)} references, {len(m.queries)} queries ({pos} positive) "
            f"-> {m.root / MANIFEST_NAME}")


def _run_sample(args: argparse.Namespace) -> int:
    from vidsearch.media.corpus import build_sample_corpus

    print(_summary(build_sample_corpus(args.out, seed=args.seed)))
    return 0


def _run_benchmark(args: argparse.Namespace) -> int:
    from vidsearch.media.corpus import SOURCE_TYPES, build_copy_benchmark

    refs, queries = QUICK if args.quick else (args.references, args.queries)
    manifest = build_copy_benchmark(
        args.out, n_references=refs, n_queries=queries, seed=args.seed,
        positive_ratio=args.positive_ratio, workers=args.workers,
        sources=args.sources.split(",") if args.sources else SOURCE_TYPES,
        hard_negative_ratio=args.hard_negative_ratio,
    )
    print(_summary(manifest))
    return 0


def register(subparsers: Any) -> None:
    """Add ``vidsearch corpus sample|benchmark``."""
    parser = subparsers.add_parser("corpus", help="generate benchmark video corpora",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    sample = commands.add_parser("sample", help="a small corpus for demos (~12 videos)")
    sample.add_argument("--out", type=Path, required=True)
    sample.add_argument("--seed", type=int, default=7)
    sample.set_defaults(func=_run_sample)
    bench = commands.add_parser("benchmark", help="the copy-detection benchmark")
    bench.add_argument("--out", type=Path, required=True)
    bench.add_argument("--references", type=int, default=150)
    bench.add_argument("--queries", type=int, default=200)
    bench.add_argument("--positive-ratio", type=float, default=0.6)
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--workers", type=int, default=1, help="parallel processes")
    bench.add_argument("--quick", action="store_true",
                       help=f"smoke size: {QUICK[0]} references, {QUICK[1]} queries")
    bench.add_argument("--sources", default=None,
                       help="comma-separated source types (default all: real_video,photo,"
                            "procedural)")
    bench.add_argument("--hard-negative-ratio", type=float, default=0.4)
    bench.set_defaults(func=_run_benchmark)
