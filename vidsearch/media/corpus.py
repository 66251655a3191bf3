"""Build the copy-detection benchmark: synthetic references, edited queries, ground truth.

References render from BENCH_REFERENCE seeds; everything else a query shows besides the
copied part (host content, negatives, picture-in-picture backgrounds) comes from
BENCH_NEGATIVE seeds, so training material never leaks in. A positive query is a segment
of one reference, optionally overwritten into unrelated host content, then edited by a
random transform chain (transforms.py) and written as H.264. Negatives go through the
same recipe from negative seeds, so only content tells them apart. Every random choice
is drawn up front from ``seed``: the benchmark is identical for any worker count.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vidsearch.media.synthetic import (
    BENCH_NEGATIVE_SEEDS,
    BENCH_REFERENCE_SEEDS,
    render_video,
    write_video,
)
from vidsearch.media.transforms import (
    Transform,
    apply_chain,
    chain_bit_rate,
    chain_source_indices,
    embed_segment,
    random_chain,
)

MANIFEST_NAME = "manifest.json"
Span = tuple[float, float]


@dataclass(frozen=True)
class ReferenceEntry:
    video_id: str
    path: Path  # absolute in memory, relative to the root in manifest.json
    duration_s: float
    seed: int = 0


@dataclass(frozen=True)
class QueryEntry:
    video_id: str
    path: Path
    duration_s: float
    positive: bool
    reference_id: str | None = None
    query_segment: Span | None = None  # where the copy sits in the query [start_s, end_s]
    reference_segment: Span | None = None  # the copied span of the reference
    transforms: list[dict[str, Any]] = field(default_factory=list)
    embedded: bool = False  # the copy is surrounded by unrelated host content


@dataclass
class BenchmarkManifest:
    root: Path
    references: list[ReferenceEntry]
    queries: list[QueryEntry]
    params: dict[str, Any] = field(default_factory=dict)

    def ground_truth_pairs(self) -> set[tuple[str, str]]:
        """(query_id, reference_id) for every positive query."""
        return {(q.video_id, q.reference_id) for q in self.queries if q.reference_id}

    def save(self, path: str | Path | None = None) -> Path:
        path = Path(path) if path else self.root / MANIFEST_NAME
        refs = [{**asdict(r), "path": _rel(r.path, self.root)} for r in self.references]
        queries = [{**asdict(q), "path": _rel(q.path, self.root)} for q in self.queries]
        doc = {"version": 1, "params": self.params, "references": refs, "queries": queries}
        path.write_text(json.dumps(doc, indent=1))
        return path


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_absolute() else str(path)


def _span(v: Any) -> Span | None:
    return None if v is None else (float(v[0]), float(v[1]))


def load_manifest(path_or_dir: str | Path) -> BenchmarkManifest:
    """Read manifest.json (or the one inside a directory); paths become absolute."""
    path = Path(path_or_dir)
    if path.is_dir():
        path = path / MANIFEST_NAME
    root = path.parent.resolve()
    doc = json.loads(path.read_text())
    refs = [ReferenceEntry(**{**r, "path": root / r["path"]}) for r in doc["references"]]
    queries = [
        QueryEntry(**{**q, "path": root / q["path"], "query_segment": _span(q["query_segment"]),
                      "reference_segment": _span(q["reference_segment"])})
        for q in doc["queries"]
    ]
    return BenchmarkManifest(root, refs, queries, doc.get("params", {}))


# ---- planning: every random draw happens here, in the parent process -----------------


@dataclass(frozen=True)
class _QueryJob:
    index: int
    positive: bool
    source_seed: int  # reference seed (positive) or negative seed
    source_frames: int  # frames to render of the source (>= start + n_frames)
    start: int  # first copied frame of the source
    n_frames: int
    host_seed: int | None  # host content the segment is overwritten into
    host_frames: int
    at_frame: int
    chain: tuple[Transform, ...]
    apply_seed: tuple[int, ...]
    reference_index: int | None = None


@dataclass(frozen=True)
class _Job:
    """One render: a reference with its positive queries, or one negative query."""

    reference: tuple[int, int, int] | None  # (index, seed, n_frames)
    queries: tuple[_QueryJob, ...]


def _plan(n_refs: int, n_queries: int, positive_ratio: float, seed: int,
          ref_duration_s: Span, segment_s: Span, fps: float,
          chain_length: tuple[int, int]) -> list[_Job]:
    rng = np.random.default_rng([seed, 0x5EED])
    ref_seeds = BENCH_REFERENCE_SEEDS + rng.choice(1_000_000, n_refs, replace=False)
    ref_frames = [max(1, round(rng.uniform(*ref_duration_s) * fps)) for _ in range(n_refs)]
    labels = np.zeros(n_queries, dtype=bool)
    labels[: round(n_queries * positive_ratio)] = True
    rng.shuffle(labels)  # query ids say nothing about the label
    by_ref: dict[int, list[_QueryJob]] = {i: [] for i in range(n_refs)}
    jobs: list[_Job] = []
    for qi, positive in enumerate(labels):
        n = max(1, round(rng.uniform(*segment_s) * fps))
        if positive:
            ref = int(rng.integers(n_refs))
            src_seed, src_len = int(ref_seeds[ref]), ref_frames[ref]
            n = min(n, src_len)
        else:
            ref, src_seed, src_len = -1, BENCH_NEGATIVE_SEEDS + int(rng.integers(1_000_000)), n
        start = int(rng.integers(0, src_len - n + 1))
        embed = bool(rng.random() < 0.5)
        host_len = round(rng.uniform(1.5, 2.5) * n) if embed else n
        job = _QueryJob(
            index=qi, positive=bool(positive), source_seed=src_seed,
            source_frames=src_len, start=start, n_frames=n,
            host_seed=BENCH_NEGATIVE_SEEDS + int(rng.integers(1_000_000)) if embed else None,
            host_frames=host_len, at_frame=int(rng.integers(0, host_len - n + 1)),
            chain=tuple(random_chain(rng, *chain_length)), apply_seed=(seed, 7, qi),
            reference_index=ref if positive else None,
        )
        if positive:
            by_ref[ref].append(job)
        else:
            jobs.append(_Job(None, (job,)))
    jobs += [_Job((i, int(ref_seeds[i]), ref_frames[i]), tuple(by_ref[i])) for i in range(n_refs)]
    # Biggest renders first so a process pool stays balanced.
    return sorted(jobs, key=lambda j: -(j.reference[2] if j.reference else 0) - len(j.queries))


# ---- execution (runs in worker processes) ---------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    root: Path
    fps: float
    width: int
    height: int


def _make_query(job: _QueryJob, source: np.ndarray, geo: _Geometry) -> QueryEntry:
    fps = geo.fps
    segment = source[job.start : job.start + job.n_frames]
    video, at = segment, 0
    if job.host_seed is not None:
        host = render_video(job.host_seed, job.host_frames / fps, fps, geo.width, geo.height)
        video, at = embed_segment(segment, host[: job.host_frames], job.at_frame), job.at_frame
    chain = list(job.chain)
    out, out_fps = apply_chain(chain, video, fps, np.random.default_rng(job.apply_seed))
    origin = chain_source_indices(chain, len(video), fps)
    shown = np.nonzero((origin >= at) & (origin < at + len(segment)))[0]
    vid = f"q{job.index:04d}"
    path = write_video(geo.root / "queries" / f"{vid}.mp4", out, out_fps,
                       bit_rate=chain_bit_rate(chain))
    q_span = r_span = None
    if job.positive:
        src = origin[shown] - at + job.start
        q_span = (float(shown.min() / out_fps), float((shown.max() + 1) / out_fps))
        r_span = (float(src.min() / fps), float((src.max() + 1) / fps))
    return QueryEntry(
        video_id=vid, path=path, duration_s=len(out) / out_fps, positive=job.positive,
        reference_id=None if job.reference_index is None else f"r{job.reference_index:04d}",
        query_segment=q_span, reference_segment=r_span,
        transforms=[t.to_dict() for t in chain], embedded=job.host_seed is not None,
    )


def _run_job(job: _Job, geo: _Geometry) -> tuple[list[ReferenceEntry], list[QueryEntry]]:
    refs: list[ReferenceEntry] = []
    if job.reference is not None:
        index, seed, n = job.reference
        source = render_video(seed, n / geo.fps, geo.fps, geo.width, geo.height)
        path = write_video(geo.root / "references" / f"r{index:04d}.mp4", source, geo.fps)
        refs.append(ReferenceEntry(f"r{index:04d}", path, n / geo.fps, seed))
    else:
        q = job.queries[0]
        source = render_video(q.source_seed, q.source_frames / geo.fps, geo.fps,
                              geo.width, geo.height)
    return refs, [_make_query(q, source, geo) for q in job.queries]


def build_copy_benchmark(
    out_dir: str | Path,
    *,
    n_references: int = 150,
    n_queries: int = 200,
    positive_ratio: float = 0.6,
    seed: int = 0,
    ref_duration_s: Span = (20.0, 40.0),
    segment_s: Span = (6.0, 15.0),
    fps: float = 8.0,
    width: int = 160,
    height: int = 120,
    chain_length: tuple[int, int] = (1, 3),
    progress: bool = True,
    workers: int = 1,
) -> BenchmarkManifest:
    """Write references/, queries/ and manifest.json under ``out_dir``; deterministic.

    ``chain_length`` bounds the transforms per query; (0, 0) gives plain copies, which
    lets tests check the ground-truth timing pixel by pixel.
    """
    if n_references < 1 or n_queries < 0 or not 0.0 <= positive_ratio <= 1.0:
        raise ValueError(f"bad benchmark size: {n_references=} {n_queries=} {positive_ratio=}")
    root = Path(out_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    geo = _Geometry(root, fps, width, height)
    jobs = _plan(n_references, n_queries, positive_ratio, seed, ref_duration_s, segment_s, fps,
                 chain_length)
    refs: list[ReferenceEntry] = []
    queries: list[QueryEntry] = []
    bar = tqdm(total=len(jobs), desc="benchmark videos", unit="job", disable=not progress)
    with bar:
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for r, q in pool.map(_run_job, jobs, [geo] * len(jobs)):
                    refs += r
                    queries += q
                    bar.update()
        else:
            for job in jobs:
                r, q = _run_job(job, geo)
                refs += r
                queries += q
                bar.update()
    params = {"n_references": n_references, "n_queries": n_queries, "seed": seed,
              "positive_ratio": positive_ratio, "ref_duration_s": list(ref_duration_s),
              "segment_s": list(segment_s), "fps": fps, "width": width, "height": height,
              "chain_length": list(chain_length)}
    manifest = BenchmarkManifest(
        root, sorted(refs, key=lambda r: r.video_id), sorted(queries, key=lambda q: q.video_id),
        params,
    )
    manifest.save()
    return manifest


def build_sample_corpus(
    out_dir: str | Path, n_references: int = 12, n_queries: int = 6, seed: int = 7,
    progress: bool = True,
) -> BenchmarkManifest:
    """A small corpus (10-15 s references) for `make run` demos: one transform per copy,
    so a first search shows what a match looks like; the hard cases (chains of 1-3) are in
    the quality benchmark."""
    return build_copy_benchmark(
        out_dir, n_references=n_references, n_queries=n_queries, seed=seed,
        ref_duration_s=(10.0, 15.0), segment_s=(4.0, 8.0), chain_length=(1, 1),
        progress=progress,
    )


# ---- CLI -------------------------------------------------------------------------------


def _summary(m: BenchmarkManifest) -> str:
    pos = sum(q.positive for q in m.queries)
    return (f"{len(m.references)} references, {len(m.queries)} queries ({pos} positive) "
            f"-> {m.root / MANIFEST_NAME}")


def _run_sample(args: argparse.Namespace) -> int:
    print(_summary(build_sample_corpus(args.out, seed=args.seed)))
    return 0


def _run_benchmark(args: argparse.Namespace) -> int:
    manifest = build_copy_benchmark(
        args.out, n_references=args.references, n_queries=args.queries, seed=args.seed,
        positive_ratio=args.positive_ratio, workers=args.workers,
    )
    print(_summary(manifest))
    return 0


def register(subparsers: Any) -> None:
    """Add ``vidsearch corpus sample|benchmark``."""
    parser = subparsers.add_parser("corpus", help="generate synthetic video corpora",
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
    bench.set_defaults(func=_run_benchmark)
