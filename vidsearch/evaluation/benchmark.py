"""`vidsearch eval`: the copy-detection quality table, every system on the same corpus.

Systems: the perceptual-hash baseline; the starter model through the real serving path in
mode 3 (hash only: key-frame codes) and mode 2 (hash coarse filter + texture rerank of the
key frames), and mode 1 (whole-video codes + texture); and the stage-2 loss variants
(Formula 7 with and without the rank-distillation addition, Formula 8, fixed margin)
with their hash/texture ranking agreement.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidsearch.evaluation.agreement import Agreement, encode_keyframes, ranking_agreement
from vidsearch.evaluation.metrics import micro_average_precision, recall_at_k, segment_iou
from vidsearch.evaluation.systems import (
    SystemRun,
    VideoFile,
    export_release,
    run_learned,
    run_phash,
)
from vidsearch.media.corpus import BenchmarkManifest, QueryEntry, ReferenceEntry, load_manifest
from vidsearch.orchestrator.api import SearchMode


@dataclass(frozen=True)
class QualityRow:
    system: str
    micro_ap: float
    recall_at_1: float
    recall_at_10: float
    mean_segment_iou: float
    ms_per_query: float
    hash_top10_overlap: float | None = None
    texture_top10_in_hash_top100: float | None = None


def score_run(run: SystemRun, manifest: BenchmarkManifest) -> QualityRow:
    truth = manifest.ground_truth_pairs()
    ious = []
    for query in manifest.queries:
        if not query.positive:
            continue
        found = run.segments.get((query.video_id, query.reference_id or ""))
        true_q, true_r = query.query_segment, query.reference_segment
        if found is None or true_q is None or true_r is None:
            ious.append(0.0)  # a miss localises nothing
            continue
        if query.reference_id not in run.ranked.get(query.video_id, [])[:1]:
            ious.append(0.0)  # a miss localises nothing
            continue
        ious.append(segment_iou(found[0], found[1], true_q, true_r))
    return QualityRow(
        system=run.name,
        micro_ap=micro_average_precision(run.predictions, truth),
        recall_at_1=recall_at_k(run.ranked, truth, 1),
        recall_at_10=recall_at_k(run.ranked, truth, 10),
        mean_segment_iou=float(np.mean(ious)) if ious else 0.0,
        ms_per_query=run.seconds_per_query * 1000.0,
    )


def _files(entries: Sequence[ReferenceEntry | QueryEntry]) -> list[VideoFile]:
    return [VideoFile(e.video_id, Path(e.path)) for e in entries]


def evaluate(
    corpus_dir: Path,
    checkpoints: Path,
    *,
    variants: bool = True,
    progress: bool = True,
) -> list[QualityRow]:
    """Run every system on the benchmark in ``corpus_dir`` and score it."""
    manifest = load_manifest(corpus_dir)
    refs, queries = _files(manifest.references), _files(manifest.queries)
    positives = [q for q in manifest.queries if q.positive]
    rows = [score_run(run_phash(refs, queries, progress=progress), manifest)]
    barlow = checkpoints / "barlow.pt"
    model_sets: list[tuple[str, Path]] = [("Formula 7 (starter)", checkpoints / "video_hash.pt")]
    if variants:
        # formula7_seed: Formula 7 without the rank-distillation addition (the seed as written)
        for name, file in (("Formula 7, no distillation", "formula7_seed"),
                           ("Formula 8", "formula8"), ("fixed margin", "fixed_margin")):
            path = checkpoints / "variants" / f"video_hash_{file}.pt"
            if path.is_file():
                model_sets.append((name, path))
    with tempfile.TemporaryDirectory() as tmp:
        for label, checkpoint in model_sets:
            repository = Path(tmp) / "".join(c if c.isalnum() else "_" for c in label)
            export_release([checkpoint, barlow], repository)
            modes: list[tuple[SearchMode, str]] = [("keyframe", "hash only, key frames (mode 3)")]
            if label == "Formula 7 (starter)":
                modes += [
                    ("duration", "hash coarse + texture rerank, key frames (mode 2)"),
                    ("texture", "whole-video hash + texture rerank (mode 1)"),
                ]
            agreement = _agreement(repository, refs, _files(positives))
            runs = run_learned(
                repository, refs, queries,
                modes=[(mode, f"{label}: {text}") for mode, text in modes],
                progress=progress,
            )  # fmt: skip
            for run in runs:
                row = score_run(run, manifest)
                rows.append(
                    QualityRow(
                        **{
                            **asdict(row),
                            "hash_top10_overlap": agreement.top10_overlap,
                            "texture_top10_in_hash_top100": agreement.texture_top10_in_hash_top100,
                        }
                    )
                )
    return rows


def _agreement(repository: Path, refs: list[VideoFile], queries: list[VideoFile]) -> Agreement:
    ref_bits, ref_texture = encode_keyframes(repository, [r.path for r in refs])
    query_bits, query_texture = encode_keyframes(repository, [q.path for q in queries])
    return ranking_agreement(query_bits, query_texture, ref_bits, ref_texture)


def to_markdown(rows: list[QualityRow], manifest_summary: str) -> str:
    def pct(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.1f}%"

    lines = [
        manifest_summary,
        "",
        "| system | µAP | R@1 | R@10 | mean segment IoU | hash top-10 ∩ texture top-10 "
        "| texture top-10 kept in hash top-100 | ms/query |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.system} | {r.micro_ap:.3f} | {pct(r.recall_at_1)} | {pct(r.recall_at_10)} "
            f"| {r.mean_segment_iou:.3f} | {pct(r.hash_top10_overlap)} "
            f"| {pct(r.texture_top10_in_hash_top100)} | {r.ms_per_query:.0f} |"
        )
    return "\n".join(lines)


def save_rows(rows: list[QualityRow], path: Path) -> None:
    path.write_text(json.dumps([asdict(r) for r in rows], indent=2))
