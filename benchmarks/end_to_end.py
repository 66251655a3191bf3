"""End to end: the real gRPC server in this process, driven through the Python SDK as a user
would call it, indexing generated references, then searching copies cut from them; the
baseline, same run, is decoding the same query file. sections/end_to_end.md says how."""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import harness as bench
from vidsearch.evaluation.report import fmt, md_table, percentile

# Issue 3: end-to-end SearchByVideo for a 10 s 360p query at most 1.5 s p50 on 2 cores.
TARGET_QUERY_S, TARGET_HEIGHT, TARGET_P50_S = 10.0, 360, 1.5
# Issue 16: ingest at 360p at least 50x real time per core (video-s per wall-s / cores).
TARGET_INGEST_HEIGHT, TARGET_INGEST_PER_CORE = 360, 50.0
OUTSIDE, TOTAL = "outside the stages", "**end to end p50**"


class EndToEndBenchConfig(bench.ServedBenchConfig):
    render_scale: int = 2
    """render content at 1/N of the size, upscale before encoding (1: native)"""
    query_durations: tuple[float, ...] = (2.0, 5.0)
    """seconds of each query"""
    query_crf: int = 28
    """the copies are re-encoded at this CRF (references: 23)"""
    searches: int = 2
    """timed searches per query"""
    warmup: int = 1
    """untimed searches per query first"""
    decode_size: int = 64
    """square size of the decode-only baseline's frames"""
    media_dir: Path | None = None
    """keep generated videos here and reuse them"""
    index_jobs: tuple[int, ...] = (1, 2)
    """ingest table: files indexed at a time (`vidsearch index --jobs N`), one row each"""
    ingest_heights: tuple[int, ...] = ()
    """ingest table: reference heights besides --height (16:9, same content and length)"""


@dataclass(frozen=True)
class QuerySpec:
    label: str
    path: Path
    duration_s: float
    cuts: tuple[tuple[str, float, float], ...]  # (reference id, start s, end s)

    @property
    def cut_from(self) -> str:
        return " + ".join(f"{vid} [{a:g}, {b:g}] s" for vid, a, b in self.cuts)


@dataclass(frozen=True)
class QueryResult:
    spec: QuerySpec
    megabytes: float
    mode: str
    e2e_s: list[float]
    cpu_s: list[float]
    decode_s: list[float]
    stages: list[dict[str, float]]
    top1_source: int  # searches whose first hit is a reference the query was cut from
    p50: float  # of e2e_s
    ratio: float  # e2e p50 / decode-only p50
    meets_target: bool | None  # None: not the query size the target is set for

    def stage_names(self) -> list[str]:
        return list(dict.fromkeys(name for s in self.stages for name in s))

    def stage_median(self, name: str) -> float:
        if name == OUTSIDE:
            return statistics.median(
                w - sum(s.values()) for w, s in zip(self.e2e_s, self.stages, strict=True)
            )
        return statistics.median(s.get(name, 0.0) for s in self.stages)


@dataclass(frozen=True)
class IngestRun:
    """The references of one size indexed through ``index_many`` ``jobs`` at a time."""

    width: int
    height: int
    jobs: int
    videos: int
    video_s: float  # seconds of video indexed
    wall_s: float
    cpu_s: float  # process CPU, client and server threads
    per_core: float  # video-s per wall-s, per CPU of the machine
    meets_target: bool | None  # None: not the size the target is set for

    @property
    def rate(self) -> float:  # video-s per wall-s
        return self.video_s / self.wall_s

    @property
    def per_cpu_s(self) -> float:  # video-s per CPU-s
        return self.video_s / self.cpu_s


@dataclass
class EndToEndBenchResult(bench.SectionResult[EndToEndBenchConfig]):
    server: bench.Server = field(default_factory=bench.Server)
    generate_s: float = 0.0
    generated: int = 0  # files written this run (the rest were reused from media_dir)
    stats: Any = None
    queries: list[QueryResult] = field(default_factory=list)
    ingest: list[IngestRun] = field(default_factory=list)


def plan_cuts(
    duration_s: float, references: Sequence[tuple[str, float]], first: int = 0
) -> list[tuple[str, float, float]]:
    """Cuts of consecutive references (from index ``first``, wrapping) totalling
    ``duration_s``: centred in one reference when it is long enough, else whole
    references then the start of the next; capped at what the references hold."""
    if not references or duration_s <= 0:
        raise ValueError("need references and a positive duration")
    n = len(references)
    vid, length = references[first % n]
    if duration_s <= length:
        start = round((length - duration_s) / 2, 3)
        return [(vid, start, start + duration_s)]
    cuts, left = [], duration_s
    for k in range(n):
        vid, length = references[(first + k) % n]
        take = min(left, length)
        cuts.append((vid, 0.0, take))
        left -= take
        if left <= 1e-9:
            break
    return cuts


def copied_frames(cuts: Sequence[tuple[Path, float, float]], fps: float) -> Iterator[np.ndarray]:
    """The RGB frames of the ``cuts`` (file, start s, end s), one after the other."""
    import av

    for source, start, end in cuts:
        with av.open(str(source)) as container:
            for i, frame in enumerate(container.decode(container.streams.video[0])):
                t = float(frame.time) if frame.time is not None else i / fps
                if t >= end - 1e-6:
                    break
                if t >= start - 1e-6:
                    yield frame.to_ndarray(format="rgb24")


def prepare_media(
    cfg: EndToEndBenchConfig, media: Path, log: bench.Log
) -> tuple[list[tuple[str, Path]], list[QuerySpec], int]:
    """(references (id, path), queries, files generated now)."""
    from vidsearch.media.synthetic import write_video

    refs, generated = bench.write_references(cfg, media, log, cfg.render_scale)
    key = cfg.media_key(cfg.render_scale)
    queries = []
    for q, duration in enumerate(cfg.query_durations):
        cuts = plan_cuts(duration, [(vid, cfg.ref_duration_s) for vid, _ in refs], first=q)
        names = "_".join(f"{vid}-{a:g}-{b:g}" for vid, a, b in cuts)
        path = media / f"query-{names}-crf{cfg.query_crf}-{key}.mp4"
        if not path.is_file():
            frames = copied_frames([(dict(refs)[vid], a, b) for vid, a, b in cuts], cfg.fps)
            write_video(path, frames, cfg.fps, crf=cfg.query_crf, size=(cfg.width, cfg.height))
            generated += 1
        total = sum(b - a for _, a, b in cuts)
        queries.append(QuerySpec(f"{total:g} s", path, total, tuple(cuts)))
    return refs, queries, generated


def _search(client: Any, spec: QuerySpec, cfg: EndToEndBenchConfig, fps: float) -> QueryResult:
    """Timed searches of one query, alternated with decode-only runs of its file."""
    from vidsearch.media.decode import decode_video

    searches, decodes = bench.alternate(
        lambda _: client.search_video(spec.path),
        lambda _: decode_video(spec.path, fps=fps, size=cfg.decode_size),
        cfg.searches, cfg.warmup,
    )  # fmt: skip
    found, sources = [f for f, _, _ in searches], {vid for vid, _, _ in spec.cuts}
    e2e, decode = [wall for _, wall, _ in searches], [wall for _, wall, _ in decodes]
    p50, target = percentile(e2e, 50), abs(spec.duration_s - TARGET_QUERY_S) < 1e-6
    return QueryResult(
        spec, spec.path.stat().st_size / 1e6, found[-1].mode or "", e2e_s=e2e, decode_s=decode,
        cpu_s=[cpu for _, _, cpu in searches], stages=[dict(f.stage_seconds) for f in found],
        top1_source=sum(bool(f.hits and f.hits[0].video.video_id in sources) for f in found),
        p50=p50, ratio=bench.ratio(p50, percentile(decode, 50)),
        meets_target=p50 <= TARGET_P50_S if target and cfg.height == TARGET_HEIGHT else None,
    )  # fmt: skip


def _ingest(
    client: Any, cfg: EndToEndBenchConfig, media: Path, nproc: int, log: bench.Log
) -> Iterator[IngestRun]:
    """Each size's references indexed again under new ids, ``jobs`` files at a time, as
    `vidsearch index --jobs` does (after the searches, so they searched the same catalog)."""
    from vidsearch_client import IndexItem

    for height in dict.fromkeys((cfg.height, *cfg.ingest_heights)):
        width = cfg.width if height == cfg.height else 2 * round(height * 16 / 9 / 2)
        sized = cfg.model_copy(update={"width": width, "height": height})
        refs, _ = bench.write_references(sized, media, log, cfg.render_scale)
        for jobs in cfg.index_jobs:
            items = [IndexItem(path, f"{vid}-{height}p-jobs{jobs}") for vid, path in refs]
            outcomes, wall, cpu = bench.timed(client.index_many, items, concurrency=jobs)
            if failed := [o for o in outcomes if o.error is not None]:
                raise RuntimeError(f"indexing {failed[0].item.path} failed: {failed[0].error}")
            video_s = len(refs) * cfg.ref_duration_s
            target, per_core = height == TARGET_INGEST_HEIGHT, video_s / wall / nproc
            yield IngestRun(width, height, jobs, len(refs), video_s, wall, cpu, per_core,
                            per_core >= TARGET_INGEST_PER_CORE if target else None)
            log(f"[end_to_end] ingest {height}p, {jobs} at a time: "
                f"{video_s / wall:.1f} video-s per wall-s")


def run(cfg: EndToEndBenchConfig, log: bench.Log = bench.stderr) -> EndToEndBenchResult:
    if cfg.references < 1 or cfg.searches < 1 or not cfg.query_durations:
        raise ValueError("need at least one reference, one search and one query duration")
    if not cfg.index_jobs or min(cfg.index_jobs) < 1:
        raise ValueError("index_jobs: at least one number of files at a time, each >= 1")
    result = EndToEndBenchResult(cfg)
    with bench.scratch("e2e", cfg.work_dir) as root:
        media = cfg.media_dir if cfg.media_dir is not None else root / "media"
        (refs, queries, result.generated), result.generate_s, _ = bench.timed(
            prepare_media, cfg, media, log
        )
        with bench.served(cfg, refs, root, result.server, log) as (client, config, _):
            log(f"[end_to_end] indexed {len(refs)} videos in {result.server.index_s:.1f} s")
            result.stats = client.stats()
            for spec in queries:
                result.queries.append(q := _search(client, spec, cfg, config.media.sample_fps))
                log(f"[end_to_end] {spec.label} query: e2e p50 {q.p50:.3f} s, decode-only p50 "
                    f"{percentile(q.decode_s, 50):.3f} s (x{q.ratio:.1f})")
            result.ingest += _ingest(client, cfg, media, result.machine.nproc, log)
    return result.finished()


def to_markdown(result: EndToEndBenchResult, command: str) -> str:
    cfg, index = result.config, result.server.index
    generated = (f"{result.generated} files generated in {result.generate_s:.0f} s"
                 if result.generated else f"all files reused from `{cfg.media_dir}`")
    return bench.render(
        "end_to_end", result, command, generated_text=generated,
        index_mb=statistics.mean(x.bytes for x in index) / 1e6,
        index_rate=sum(x.duration_s for x in index) / result.server.index_s,
        index_rates=[bench.ratio(x.duration_s, x.wall_s) for x in index],
        index_wall=[x.wall_s for x in index], index_cpu=[x.cpu_s for x in index],
        mode=next((q.mode for q in result.queries if q.mode), "") or "server default",
        target_query_s=TARGET_QUERY_S, target_height=TARGET_HEIGHT, target_p50_s=TARGET_P50_S,
        outside=OUTSIDE, stage_table=_stage_table(result.queries),
        target_ingest_height=TARGET_INGEST_HEIGHT, target_ingest=TARGET_INGEST_PER_CORE,
    )  # fmt: skip


def _stage_table(queries: list[QueryResult]) -> str:
    def cells(q: QueryResult, name: str) -> tuple[str, str]:
        if name == TOTAL:
            return f"**{fmt(q.p50, 3)}**", "100 %"
        value = q.stage_median(name)
        return fmt(value, 3), f"{100 * value / q.p50:.0f} %" if q.p50 > 0 else "—"

    names = [*dict.fromkeys(n for q in queries for n in q.stage_names()), OUTSIDE, TOTAL]
    return md_table(
        ["stage", *(h for q in queries for h in (f"{q.spec.label} query s", "share of p50"))],
        [[name, *(c for q in queries for c in cells(q, name))] for name in names],
    )
