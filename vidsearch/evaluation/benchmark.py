"""`vidsearch eval`: the copy-detection quality table, every system on the same corpus.

Systems: the perceptual-hash baseline with and without a flipped query (same index, same
run), then a list of named learned systems, each = (checkpoint set, search mode, config
overrides applied to VidsearchConfig before build_orchestrator), run through the serving
path (export -> ONNX Runtime -> Qdrant Edge -> orchestrator). The default list is the
starter model in key-frame matching, duration matching and near-duplicate search, and the
stage-2 loss variants in key-frame matching; ablation rows are data (a
YAML file, see ``load_systems``). A system whose checkpoints are missing is skipped with
a note. Scores: µAP, R@1, R@10, R@1 per edit family and per source type, matched-segment
temporal IoU, ms per query, ms per indexed second of video, µAP ratio vs the pHash.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidsearch.evaluation.agreement import Agreement, encode_keyframes, ranking_agreement
from vidsearch.evaluation.metrics import micro_average_precision, recall_at_k, segment_iou
from vidsearch.evaluation.report import md_table
from vidsearch.evaluation.systems import (
    PHASH_NAME,
    SystemRun,
    VideoFile,
    export_release,
    run_learned,
    run_phash_variants,
)
from vidsearch.media.corpus import (
    FAMILIES,
    SOURCE_TYPES,
    BenchmarkManifest,
    QueryEntry,
    ReferenceEntry,
    load_manifest,
)
from vidsearch.orchestrator.api import SearchMode

_MODES: tuple[SearchMode, ...] = ("texture", "duration", "keyframe")


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
    recall_at_1_by_family: dict[str, float] = field(default_factory=dict)
    recall_at_1_by_source: dict[str, float] = field(default_factory=dict)
    ms_per_indexed_second: float | None = None
    micro_ap_ratio_vs_phash: float | None = None


@dataclass(frozen=True)
class SystemSpec:
    """One learned system: which checkpoints, which search mode, which config changes."""

    name: str
    checkpoints: tuple[Path, ...]  # exported together as one release (video_hash + barlow)
    mode: SearchMode = "duration"
    overrides: Mapping[str, Any] = field(default_factory=dict)  # nested VidsearchConfig fields


def _recall_at_1(run: SystemRun, queries: Sequence[QueryEntry]) -> float:
    if not queries:
        return math.nan
    hits = sum(run.ranked.get(q.video_id, [])[:1] == [q.reference_id] for q in queries)
    return hits / len(queries)


def score_run(run: SystemRun, manifest: BenchmarkManifest) -> QualityRow:
    truth = manifest.ground_truth_pairs()
    positives = [q for q in manifest.queries if q.positive]
    ious = []
    for query in positives:
        found = run.segments.get((query.video_id, query.reference_id or ""))
        true_q, true_r = query.query_segment, query.reference_segment
        if found is None or true_q is None or true_r is None:
            ious.append(0.0)  # a miss localises nothing
            continue
        if query.reference_id not in run.ranked.get(query.video_id, [])[:1]:
            ious.append(0.0)  # a miss localises nothing
            continue
        ious.append(segment_iou(found[0], found[1], true_q, true_r))
    families = sorted({f for q in positives for f in q.families},
                      key=lambda f: FAMILIES.index(f) if f in FAMILIES else len(FAMILIES))
    sources = sorted({q.source_type for q in positives},
                     key=lambda s: SOURCE_TYPES.index(s) if s in SOURCE_TYPES else 99)
    return QualityRow(
        system=run.name,
        micro_ap=micro_average_precision(run.predictions, truth),
        recall_at_1=recall_at_k(run.ranked, truth, 1),
        recall_at_10=recall_at_k(run.ranked, truth, 10),
        mean_segment_iou=float(np.mean(ious)) if ious else 0.0,
        ms_per_query=run.seconds_per_query * 1000.0,
        recall_at_1_by_family={
            f: _recall_at_1(run, [q for q in positives if f in q.families]) for f in families
        },
        recall_at_1_by_source={
            s: _recall_at_1(run, [q for q in positives if q.source_type == s]) for s in sources
        },
        ms_per_indexed_second=run.ms_per_indexed_second,
    )


def _files(entries: Sequence[ReferenceEntry | QueryEntry]) -> list[VideoFile]:
    return [VideoFile(e.video_id, Path(e.path)) for e in entries]


def default_systems(checkpoints: Path, *, variants: bool = True) -> list[SystemSpec]:
    """The starter model in key-frame matching, duration matching and near-duplicate search,
    then the stage-2 loss variants in key-frame matching (the mode that shows the hash alone)."""
    barlow = checkpoints / "barlow.pt"
    starter = (checkpoints / "video_hash.pt", barlow)
    specs = [
        SystemSpec("Formula 7 (starter): key-frame matching (hash only)", starter, "keyframe"),
        SystemSpec("Formula 7 (starter): duration matching (key-frame hash coarse filter + "
                   "texture rerank)", starter, "duration"),
        SystemSpec("Formula 7 (starter): near-duplicate search (whole-video hash coarse filter "
                   "+ texture rerank)", starter, "texture"),
    ]
    if variants:
        # formula7_seed: Formula 7 without the rank-distillation addition (the seed as written)
        for name, file in (("Formula 7, no distillation", "formula7_seed"),
                           ("Formula 8", "formula8"), ("fixed margin", "fixed_margin")):
            path = checkpoints / "variants" / f"video_hash_{file}.pt"
            specs.append(SystemSpec(f"{name}: key-frame matching (hash only)", (path, barlow),
                                    "keyframe"))
    return specs


def load_systems(path: Path, checkpoints: Path) -> list[SystemSpec]:
    """Systems from YAML: a list (or ``systems:`` list) of entries

        - name: "starter, duration matching, 2 frames per second"
          checkpoints: [video_hash.pt, barlow.pt]   # relative to --checkpoints
          mode: duration                              # texture | duration | keyframe
          overrides: {media: {sample_fps: 2.0}}       # nested VidsearchConfig fields

    Unknown keys or modes are errors (a typo must not silently run the default)."""
    import yaml

    doc = yaml.safe_load(path.read_text()) or []
    entries = doc.get("systems", []) if isinstance(doc, dict) else doc
    specs = []
    for i, entry in enumerate(entries):
        unknown = set(entry) - {"name", "checkpoints", "mode", "overrides"}
        if unknown or "name" not in entry:
            raise ValueError(f"{path}: system {i} needs a name; unknown keys {sorted(unknown)}")
        mode = entry.get("mode", "duration")
        if mode not in _MODES:
            raise ValueError(f"{path}: system {entry['name']!r}: mode must be one of {_MODES}")
        files = entry.get("checkpoints", ["video_hash.pt", "barlow.pt"])
        specs.append(SystemSpec(str(entry["name"]), tuple(checkpoints / f for f in files), mode,
                                dict(entry.get("overrides") or {})))
    return specs


def evaluate(
    corpus_dir: Path,
    checkpoints: Path,
    *,
    variants: bool = True,
    progress: bool = True,
    systems: Sequence[SystemSpec] | None = None,
    skipped: list[str] | None = None,
) -> list[QualityRow]:
    """Run the pHash baselines and every system on the benchmark in ``corpus_dir``.

    ``systems`` defaults to ``default_systems(checkpoints, variants=variants)``. Systems
    sharing checkpoints and overrides share one index. Skipped systems (missing
    checkpoints) are appended to ``skipped`` as a sentence each."""
    manifest = load_manifest(corpus_dir)
    refs, queries = _files(manifest.references), _files(manifest.queries)
    positives = [q for q in manifest.queries if q.positive]
    ref_seconds = float(sum(r.duration_s for r in manifest.references))
    phash_runs = run_phash_variants(refs, queries, progress=progress, flips=(False, True),
                                    reference_seconds=ref_seconds)
    rows = [score_run(run, manifest) for run in phash_runs]
    specs = list(systems) if systems is not None else default_systems(checkpoints,
                                                                      variants=variants)
    groups: dict[tuple[tuple[Path, ...], str], list[SystemSpec]] = {}
    for spec in specs:
        missing = [str(p) for p in spec.checkpoints if not p.is_file()]
        if missing:
            if skipped is not None:
                skipped.append(f"{spec.name}: skipped, missing {', '.join(missing)}")
            continue
        # Runs that differ only in how they search share one index.
        indexing = {k: v for k, v in spec.overrides.items() if k != "search"}
        key = (spec.checkpoints, json.dumps(indexing, sort_keys=True, default=str))
        groups.setdefault(key, []).append(spec)
    agreements: dict[tuple[Path, ...], Agreement] = {}
    learned: dict[str, QualityRow] = {}
    with tempfile.TemporaryDirectory() as tmp:
        repositories: dict[tuple[Path, ...], Path] = {}
        for (files, _), group in groups.items():
            if files not in repositories:
                repositories[files] = Path(tmp) / f"release_{len(repositories)}"
                export_release(list(files), repositories[files])
                agreements[files] = _agreement(repositories[files], refs, _files(positives))
            runs = run_learned(
                repositories[files], refs, queries,
                modes=[(spec.mode, spec.name) for spec in group],
                progress=progress,
                config_overrides={k: v for k, v in group[0].overrides.items() if k != "search"},
                search_overrides=[spec.overrides.get("search", {}) for spec in group],
                reference_seconds=ref_seconds,
            )  # fmt: skip
            agreement = agreements[files]
            for run in runs:
                learned[run.name] = QualityRow(
                    **{
                        **asdict(score_run(run, manifest)),
                        "hash_top10_overlap": agreement.top10_overlap,
                        "texture_top10_in_hash_top100": agreement.texture_top10_in_hash_top100,
                    }
                )
    rows += [learned[s.name] for s in specs if s.name in learned]  # in the order asked
    return with_phash_ratio(rows)


def with_phash_ratio(rows: list[QualityRow]) -> list[QualityRow]:
    """Fill µAP / µAP of the plain pHash row (same corpus, same run)."""
    base = next((r.micro_ap for r in rows if r.system == PHASH_NAME), None)
    if not base:
        return rows
    return [QualityRow(**{**asdict(r), "micro_ap_ratio_vs_phash": r.micro_ap / base})
            for r in rows]


def _agreement(repository: Path, refs: list[VideoFile], queries: list[VideoFile]) -> Agreement:
    ref_bits, ref_texture = encode_keyframes(repository, [r.path for r in refs])
    query_bits, query_texture = encode_keyframes(repository, [q.path for q in queries])
    return ranking_agreement(query_bits, query_texture, ref_bits, ref_texture)


def _pct(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def to_markdown(rows: list[QualityRow], manifest_summary: str,
                manifest: BenchmarkManifest | None = None,
                skipped: Sequence[str] = ()) -> str:
    def num(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    def ratio(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}x"

    headers = ["system", "µAP", "µAP / pHash", "R@1", "R@10", "mean segment IoU",
               "hash top-10 ∩ texture top-10", "texture top-10 kept in hash top-100",
               "ms/query", "index ms per video s"]
    table = md_table(headers, [
        [r.system, f"{r.micro_ap:.3f}", ratio(r.micro_ap_ratio_vs_phash), _pct(r.recall_at_1),
         _pct(r.recall_at_10), f"{r.mean_segment_iou:.3f}", _pct(r.hash_top10_overlap),
         _pct(r.texture_top10_in_hash_top100), f"{r.ms_per_query:.0f}",
         num(r.ms_per_indexed_second, ".1f")]
        for r in rows
    ])
    lines = [manifest_summary, "", table]
    lines += ["", *breakdown_markdown(rows, manifest)]
    if skipped:
        lines += ["", *[f"- {s}" for s in skipped]]
    return "\n".join(lines)


def breakdown_markdown(rows: list[QualityRow], manifest: BenchmarkManifest | None) -> list[str]:
    """Second table: R@1 per edit family and per source type (positives holding it)."""
    families = [f for f in FAMILIES if any(f in r.recall_at_1_by_family for r in rows)]
    sources = [s for s in SOURCE_TYPES if any(s in r.recall_at_1_by_source for r in rows)]
    if not families and not sources:
        return []
    counts: dict[str, int] = {}
    if manifest is not None:
        for q in manifest.queries:
            if q.positive:
                for f in q.families:
                    counts[f] = counts.get(f, 0) + 1
                counts["src:" + q.source_type] = counts.get("src:" + q.source_type, 0) + 1

    def head(name: str, key: str) -> str:
        return f"{name} (n={counts[key]})" if key in counts else name

    cols = [head(f, f) for f in families] + [head(s, "src:" + s) for s in sources]
    lines = [
        "R@1 per edit family (a query with a chain of 2-3 counts in each of its families) "
        "and per source type of the copied reference:",
        "",
        md_table(["system", *cols], [
            [r.system, *(_pct(r.recall_at_1_by_family.get(f)) for f in families),
             *(_pct(r.recall_at_1_by_source.get(s)) for s in sources)]
            for r in rows
        ]),
    ]
    return lines


def save_rows(rows: list[QualityRow], path: Path) -> None:
    path.write_text(json.dumps([asdict(r) for r in rows], indent=2))
