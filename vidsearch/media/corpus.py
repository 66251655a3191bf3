"""Build the copy-detection benchmark: references, edited queries, ground truth.

References are of three source types: windows of real videos and photo videos (a
natural photo through a camera path, with cuts; both from real_sources.py, evaluation
only) and procedural videos from BENCH_REFERENCE seeds. A positive query is a segment of
one reference, edited by 1-3 transform families (transforms.py, plus the temporal
embedding into unrelated host content) and written as H.264. Families are drawn least
used first, so every family is in about as many queries and gets its own recall.

Negatives go through the same recipe, so only content tells them apart: easy ones from
material no reference shows (negative-only photos, BENCH_NEGATIVE seeds), hard ones from
indexed material that is not a copy (another window of the same static camera, the other
half of a photo a reference shows, under another camera path). Every file gets its own
frame rate, size, aspect and encoder quality, so no file property gives the label away.
Every random choice is drawn up front from ``seed``: the benchmark is identical for any
worker count.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vidsearch.media.real_sources import (
    OPENCV_DATA,
    Photo,
    RealVideo,
    Shot,
    decode_window,
    draw_shot,
    photo_halves,
    photos,
    real_videos,
    render_photo_video,
    require_real_sources,
)
from vidsearch.media.synthetic import (
    BENCH_NEGATIVE_SEEDS,
    BENCH_REFERENCE_SEEDS,
    render_video,
    write_video,
)
from vidsearch.media.transforms import (
    TRANSFORMS,
    PictureInPicture,
    Transform,
    apply_chain,
    chain_bit_rate,
    chain_source_indices,
    draw_transform,
    embed_segment,
)

MANIFEST_NAME = "manifest.json"
Span = tuple[float, float]
SOURCE_TYPES = ("real_video", "photo", "procedural")
PROCEDURAL_ONLY = ("procedural",)
# Edit families a query can have: every transform, plus the temporal embedding.
FAMILIES = (*TRANSFORMS, "embed")


@dataclass(frozen=True)
class ReferenceEntry:
    video_id: str
    path: Path  # absolute in memory, relative to the root in manifest.json
    duration_s: float
    seed: int = 0  # procedural references
    source_type: str = "procedural"
    source: str = ""  # what it shows: a seed, a video window, photo names
    width: int = 0
    height: int = 0
    fps: float = 0.0


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
    source_type: str = "procedural"  # of the copied reference, or of the negative's content
    hard_negative: bool = False  # a negative made of indexed material (not a copy)
    families: list[str] = field(default_factory=list)  # edit families, "embed" included
    source: str = ""


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
class SourceSpec:
    """How to render one source video (a reference, a negative, hard or not)."""

    kind: str  # one of SOURCE_TYPES
    fps: float
    width: int
    height: int
    n_frames: int
    seed: int = 0  # procedural
    video: str = ""  # real_video: file name in real_sources.OPENCV_DATA
    start_s: float = 0.0  # real_video: window start
    shots: tuple[Shot, ...] = ()  # photo

    def describe(self) -> str:
        if self.kind == "real_video":
            return f"{self.video}@{self.start_s:.2f}s+{self.n_frames / self.fps:.2f}s"
        if self.kind == "photo":
            return " | ".join(s.describe() for s in self.shots)
        return f"procedural seed {self.seed}"


def render_source(spec: SourceSpec) -> np.ndarray:
    """uint8 [n_frames, height, width, 3] of a source."""
    if spec.kind == "real_video":
        return decode_window(OPENCV_DATA / spec.video, spec.start_s, spec.n_frames, spec.fps,
                             spec.width, spec.height)
    if spec.kind == "photo":
        return render_photo_video(spec.shots, spec.width, spec.height)[: spec.n_frames]
    return render_video(spec.seed, spec.n_frames / spec.fps, spec.fps, spec.width,
                        spec.height)[: spec.n_frames]


@dataclass(frozen=True)
class _QueryJob:
    index: int
    positive: bool
    source: SourceSpec  # the reference (positive) or the negative's own source
    start: int  # first copied frame of the source
    n_frames: int
    host: SourceSpec | None  # content the segment is overwritten into (never a reference)
    host_frames: int
    at_frame: int
    chain: tuple[Transform, ...]
    apply_seed: tuple[int, ...]
    crf: int
    families: tuple[str, ...]
    reference_index: int | None = None
    hard_negative: bool = False


@dataclass(frozen=True)
class _RefJob:
    index: int
    source: SourceSpec
    crf: int


@dataclass(frozen=True)
class _Job:
    """One render: a reference with its positive queries, or one negative query."""

    reference: _RefJob | None
    queries: tuple[_QueryJob, ...]


@dataclass(frozen=True)
class _Settings:
    n_refs: int
    n_queries: int
    positive_ratio: float
    hard_negative_ratio: float
    seed: int
    ref_duration_s: Span
    segment_s: Span
    fps: float
    width: int
    height: int
    chain_length: tuple[int, int]
    sources: tuple[str, ...]
    vary_encoding: bool
    families: tuple[str, ...] = FAMILIES


def _geometry(rng: np.random.Generator, st: _Settings) -> tuple[float, int, int, int]:
    """(fps, width, height, crf) of one source: varied, so no file property tells a copy
    from a negative or a reference from a query."""
    if not st.vary_encoding:
        return st.fps, st.width, st.height, 23
    scale = float(rng.choice([0.8, 1.0, 1.25]))
    aspect = float(rng.choice([st.width / st.height, 16 / 9, 3 / 2, 4 / 3]))
    h = max(16, 2 * round(st.height * scale / 2))
    w = max(16, 2 * round(h * aspect / 2))
    fps = st.fps * float(rng.choice([0.75, 1.0, 1.25, 1.5]))
    return fps, w, h, int(rng.integers(18, 31))


_Window = tuple[RealVideo, float, float]  # (video, start s, length s)


def _video_windows(rng: np.random.Generator, st: _Settings) -> tuple[list[_Window], list[_Window]]:
    """Disjoint (video, start, length) windows: reference windows, and for static-camera
    videos a reserved tail that only hard negatives are drawn from."""
    refs: list[_Window] = []
    tails: list[_Window] = []
    lo, hi = st.ref_duration_s
    for video in real_videos():
        end = video.duration_s - 0.2  # the last frames of a file can be missing
        if video.static_camera:
            tail = min(max(st.segment_s[1] * 1.2, 0.25 * end), 0.5 * end)
            tails.append((video, end - tail, tail))
            end -= tail + 1.0
        t = 0.0
        while end - t >= min(lo, 0.6 * end):
            length = min(float(rng.uniform(lo, hi)), end - t)
            refs.append((video, t, length))
            t += length + 1.0
    return refs, tails


def _plan(st: _Settings) -> tuple[list[_Job], dict[str, Any]]:
    rng = np.random.default_rng([st.seed, 0x5EED])
    uses_real = any(s != "procedural" for s in st.sources)
    if uses_real:
        require_real_sources()
    # --- references: real video windows, photo videos, procedural; ids shuffled ---
    specs: list[SourceSpec] = []
    windows, tails = _video_windows(rng, st) if "real_video" in st.sources else ([], [])
    order = rng.permutation(len(windows))
    for wi in order[: round(st.n_refs * _SHARE["real_video"])]:
        video, start_s, length = windows[int(wi)]
        fps, w, h, _ = _geometry(rng, st)
        n = max(1, round(length * fps))
        specs.append(SourceSpec("real_video", fps, w, h, n, video=video.name, start_s=start_s))
    indexed_videos = {s.video for s in specs}
    tails = [t for t in tails if t[0].name in indexed_videos]  # hard only if indexed
    all_photos = list(photos()) if "photo" in st.sources else []
    shuffled = [all_photos[int(i)] for i in rng.permutation(len(all_photos))]
    n_reserved = len(shuffled) // 5  # negatives only: never in a reference
    negative_photos, reference_photos = shuffled[:n_reserved], shuffled[n_reserved:]
    used_photos: list[Photo] = []  # in a reference (their other half feeds hard negatives)
    n_photo_refs = round(st.n_refs * _SHARE["photo"])
    while len(specs) < st.n_refs and n_photo_refs > 0 and reference_photos:
        fps, w, h, _ = _geometry(rng, st)
        n = max(1, round(float(rng.uniform(*st.ref_duration_s)) * fps))
        k = min(len(reference_photos), int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2])))
        k = min(k, n)
        cuts: list[int] = sorted(
            int(c) for c in rng.choice(np.arange(1, n), size=k - 1, replace=False)
        ) if k > 1 else []
        lengths = np.diff([0, *cuts, n])
        shots = []
        for length in lengths:
            photo = reference_photos.pop()
            used_photos.append(photo)
            region = photo_halves(photo)[int(rng.integers(2))]
            shots.append(draw_shot(rng, photo, region, int(length), w / h))
        specs.append(SourceSpec("photo", fps, w, h, n, shots=tuple(shots)))
        n_photo_refs -= 1
    while len(specs) < st.n_refs:
        fps, w, h, _ = _geometry(rng, st)
        n = max(1, round(float(rng.uniform(*st.ref_duration_s)) * fps))
        seed = BENCH_REFERENCE_SEEDS + int(rng.integers(1_000_000))
        specs.append(SourceSpec("procedural", fps, w, h, n, seed=seed))
    specs = [specs[int(i)] for i in rng.permutation(len(specs))]  # ids say nothing
    ref_crf = [_geometry(rng, st)[3] for _ in specs]
    by_type: dict[str, list[int]] = {}
    for i, spec in enumerate(specs):
        by_type.setdefault(spec.kind, []).append(i)
    # Which half of each used photo the references show: hard negatives get the other.
    shown: dict[str, set[tuple[float, ...]]] = {}
    for spec in specs:
        for shot in spec.shots:
            shown.setdefault(shot.photo, set()).add(shot.region)

    # --- queries ---
    n_pos = round(st.n_queries * st.positive_ratio)
    labels = np.zeros(st.n_queries, dtype=bool)
    labels[:n_pos] = True
    rng.shuffle(labels)  # query ids say nothing about the label
    n_neg = st.n_queries - n_pos
    n_hard = round(n_neg * st.hard_negative_ratio) if (tails or used_photos) else 0
    neg_kinds = ["hard"] * n_hard + ["easy"] * (n_neg - n_hard)
    rng.shuffle(neg_kinds)
    types = sorted(by_type)  # positives cycle over source types so each is measured
    type_cycle = [types[i % len(types)] for i in rng.permutation(max(n_pos, 1))]
    usage = {f: 0 for f in st.families}
    neg_usage = {f: 0 for f in st.families}
    by_ref: dict[int, list[_QueryJob]] = {i: [] for i in range(len(specs))}
    jobs: list[_Job] = []
    pos_i = neg_i = 0
    for qi, positive in enumerate(labels):
        n_seg = max(1, round(float(rng.uniform(*st.segment_s)) * st.fps))
        k = int(rng.integers(st.chain_length[0], st.chain_length[1] + 1))
        families = _least_used(rng, usage if positive else neg_usage, k)
        hard = False
        if positive:
            kind = type_cycle[pos_i % len(type_cycle)]
            pos_i += 1
            ref = int(rng.choice(by_type[kind]))
            source = specs[ref]
            n = min(max(1, round(n_seg * source.fps / st.fps)), source.n_frames)
            start = int(rng.integers(0, source.n_frames - n + 1))
        else:
            ref = -1
            hard = neg_kinds[neg_i] == "hard"
            neg_i += 1
            fps, w, h, _ = _geometry(rng, st)
            n = max(1, round(n_seg * fps / st.fps))
            source = _negative_source(rng, hard, fps, w, h, n, tails, used_photos, shown,
                                      negative_photos)
            n, start = source.n_frames, 0
        embed = "embed" in families
        host_len = round(float(rng.uniform(1.5, 2.5)) * n) if embed else n
        chain = tuple(_real_host(draw_transform(f, rng), rng, negative_photos, source)
                      for f in families if f != "embed")
        order_ = rng.permutation(len(chain))
        host = _host(rng, negative_photos, source, host_len) if embed else None
        job = _QueryJob(
            index=qi, positive=bool(positive), source=source, start=start, n_frames=n,
            host=host,
            host_frames=host_len, at_frame=int(rng.integers(0, host_len - n + 1)),
            chain=tuple(chain[int(i)] for i in order_), apply_seed=(st.seed, 7, qi),
            crf=_geometry(rng, st)[3], families=tuple(sorted(families)),
            reference_index=ref if positive else None, hard_negative=hard,
        )
        if positive:
            by_ref[ref].append(job)
        else:
            jobs.append(_Job(None, (job,)))
    jobs += [_Job(_RefJob(i, specs[i], ref_crf[i]), tuple(by_ref[i])) for i in range(len(specs))]
    info = {
        "reference_source_types": {t: len(v) for t, v in sorted(by_type.items())},
        "photos": [p.key for p in all_photos],
        "negative_only_photos": sorted(p.key for p in negative_photos),
        "real_videos": sorted({s.video for s in specs if s.video}),
    }
    # Biggest renders first so a process pool stays balanced.
    jobs.sort(key=lambda j: -(j.reference.source.n_frames if j.reference else 0) - len(j.queries))
    return jobs, info


_SHARE = {"real_video": 0.15, "photo": 0.35}  # of the references, as material allows


def _least_used(rng: np.random.Generator, usage: dict[str, int], k: int) -> list[str]:
    """k distinct families, the least used so far (random among ties): every family
    appears about equally often, so each gets a per-family recall."""
    names = list(usage)
    tie = rng.random(len(names))
    ranked = sorted(range(len(names)), key=lambda i: (usage[names[i]], tie[i]))
    picked = [names[i] for i in ranked[:k]]
    for f in picked:
        usage[f] += 1
    return picked


def _host(rng: np.random.Generator, negative_photos: list[Photo], source: SourceSpec,
          n: int) -> SourceSpec:
    """Unrelated content a copy is embedded into: half the time a negative-only photo
    through a camera path (when there are any), else procedural negative content."""
    fps, w, h = source.fps, source.width, source.height
    if negative_photos and rng.random() < 0.5:
        photo = negative_photos[int(rng.integers(len(negative_photos)))]
        shot = draw_shot(rng, photo, (0.0, 0.0, 1.0, 1.0), n, w / h)
        return SourceSpec("photo", fps, w, h, n, shots=(shot,))
    return SourceSpec("procedural", fps, w, h, n,
                      seed=BENCH_NEGATIVE_SEEDS + int(rng.integers(1_000_000)))


def _real_host(tr: Transform, rng: np.random.Generator, negative_photos: list[Photo],
               source: SourceSpec) -> Transform:
    """Half the picture-in-picture backgrounds become a negative-only photo."""
    if not isinstance(tr, PictureInPicture) or not negative_photos or rng.random() >= 0.5:
        return tr
    photo = negative_photos[int(rng.integers(len(negative_photos)))]
    shot = draw_shot(rng, photo, (0.0, 0.0, 1.0, 1.0), 1, source.width / source.height)
    return replace(tr, host_photo=photo.key, host_path=(*shot.start, *shot.end))


def _negative_source(
    rng: np.random.Generator, hard: bool, fps: float, w: int, h: int, n: int,
    tails: list[_Window], used_photos: list[Photo],
    shown: dict[str, set[tuple[float, ...]]], negative_photos: list[Photo],
) -> SourceSpec:
    """A negative's source. Hard: another window of an indexed static-camera video, or
    the other half of a photo a reference shows under another camera path. Easy: a
    negative-only photo or procedural content."""
    if hard:
        use_video = bool(tails) and (not used_photos or rng.random() < 0.5)
        if use_video:
            video, t0, length = tails[int(rng.integers(len(tails)))]
            n = min(n, max(1, int(length * fps) - 1))
            start = t0 + float(rng.uniform(0, max(0.0, length - n / fps)))
            return SourceSpec("real_video", fps, w, h, n, video=video.name, start_s=start)
        photo = used_photos[int(rng.integers(len(used_photos)))]
        free = [r for r in photo_halves(photo) if r not in shown.get(photo.key, set())]
        region = free[0] if free else photo_halves(photo)[0]
        return SourceSpec("photo", fps, w, h, n, shots=(draw_shot(rng, photo, region, n, w / h),))
    if negative_photos and rng.random() < 0.5:
        photo = negative_photos[int(rng.integers(len(negative_photos)))]
        region = (0.0, 0.0, 1.0, 1.0)
        return SourceSpec("photo", fps, w, h, n, shots=(draw_shot(rng, photo, region, n, w / h),))
    seed = BENCH_NEGATIVE_SEEDS + int(rng.integers(1_000_000))
    return SourceSpec("procedural", fps, w, h, n, seed=seed)


# ---- execution (runs in worker processes) ---------------------------------------------


def _make_query(job: _QueryJob, source: np.ndarray, root: Path) -> QueryEntry:
    spec = job.source
    fps = spec.fps
    segment = source[job.start : job.start + job.n_frames]
    video, at = segment, 0
    if job.host is not None:
        host = render_source(job.host)
        video, at = embed_segment(segment, host[: job.host_frames], job.at_frame), job.at_frame
    chain = list(job.chain)
    out, out_fps = apply_chain(chain, video, fps, np.random.default_rng(job.apply_seed))
    origin = chain_source_indices(chain, len(video), fps)
    shown = np.nonzero((origin >= at) & (origin < at + len(segment)))[0]
    vid = f"q{job.index:04d}"
    path = write_video(root / "queries" / f"{vid}.mp4", out, out_fps, crf=job.crf,
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
        transforms=[t.to_dict() for t in chain], embedded=job.host is not None,
        source_type=spec.kind, hard_negative=job.hard_negative, families=list(job.families),
        source=spec.describe(),
    )


def _run_job(job: _Job, root: Path) -> tuple[list[ReferenceEntry], list[QueryEntry]]:
    refs: list[ReferenceEntry] = []
    if job.reference is not None:
        spec = job.reference.source
        source = render_source(spec)
        vid = f"r{job.reference.index:04d}"
        path = write_video(root / "references" / f"{vid}.mp4", source, spec.fps,
                           crf=job.reference.crf)
        refs.append(ReferenceEntry(vid, path, len(source) / spec.fps, spec.seed, spec.kind,
                                   spec.describe(), spec.width, spec.height, spec.fps))
    else:
        source = render_source(job.queries[0].source)
    return refs, [_make_query(q, source, root) for q in job.queries]


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
    sources: Sequence[str] = SOURCE_TYPES,
    hard_negative_ratio: float = 0.4,
    vary_encoding: bool = True,
    families: Sequence[str] = FAMILIES,
) -> BenchmarkManifest:
    """Write references/, queries/ and manifest.json under ``out_dir``; deterministic.

    ``sources`` picks the material (real_video, photo, procedural; the real ones need
    opencv-doc and the `bench` extra). ``fps``/``width``/``height`` are the base geometry:
    with ``vary_encoding`` every file gets its own frame rate, size, aspect and quality
    around it. ``chain_length`` bounds the edit families per query (the temporal
    embedding counts as one); (0, 0) gives plain copies, which lets tests check the
    ground-truth timing pixel by pixel; ``families`` restricts the edit families drawn
    (FAMILIES names). ``hard_negative_ratio`` of the negatives come
    from indexed material (another window of a static camera, another part of a photo).
    """
    if n_references < 1 or n_queries < 0 or not 0.0 <= positive_ratio <= 1.0:
        raise ValueError(f"bad benchmark size: {n_references=} {n_queries=} {positive_ratio=}")
    if not families or set(families) - set(FAMILIES):
        raise ValueError(f"families must be some of {FAMILIES}, got {list(families)}")
    unknown = set(sources) - set(SOURCE_TYPES)
    if unknown or not sources:
        raise ValueError(f"sources must be some of {SOURCE_TYPES}, got {list(sources)}")
    root = Path(out_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    settings = _Settings(n_references, n_queries, positive_ratio, hard_negative_ratio, seed,
                         ref_duration_s, segment_s, fps, width, height, chain_length,
                         tuple(sources), vary_encoding, tuple(families))
    jobs, info = _plan(settings)
    refs: list[ReferenceEntry] = []
    queries: list[QueryEntry] = []
    bar = tqdm(total=len(jobs), desc="benchmark videos", unit="job", disable=not progress)
    with bar:
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for r, q in pool.map(_run_job, jobs, [root] * len(jobs)):
                    refs += r
                    queries += q
                    bar.update()
        else:
            for job in jobs:
                r, q = _run_job(job, root)
                refs += r
                queries += q
                bar.update()
    params = {"n_references": n_references, "n_queries": n_queries, "seed": seed,
              "positive_ratio": positive_ratio, "hard_negative_ratio": hard_negative_ratio,
              "ref_duration_s": list(ref_duration_s), "segment_s": list(segment_s), "fps": fps,
              "width": width, "height": height, "chain_length": list(chain_length),
              "sources": list(sources), "vary_encoding": vary_encoding,
              "families": list(families), **info}
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
        progress=progress, sources=PROCEDURAL_ONLY, vary_encoding=False,
    )
