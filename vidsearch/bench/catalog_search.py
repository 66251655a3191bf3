"""Search-stage latency: Qdrant Edge catalog vs FAISS IndexBinaryFlat + numpy rerank.

    python -m vidsearch.bench.catalog_search --sizes 10000,100000,1000000

Both engines hold the same synthetic catalog (random ±1 128-bit codes, random
L2-normalised textures) and answer the same queries (a stored code with some bits
flipped, its texture plus noise), interleaved query by query so machine noise hits
both alike:

- **Qdrant Edge**: ``QdrantEdgeCatalog.search_videos`` (exact hash scan with the
  Hamming threshold as a prefetch of ``coarse_limit`` points, texture rerank, top
  ``limit``) after ``optimize()`` built the binary quantization. The catalog API
  upserts one video at a time with three fsyncs, so the catalog is bulk-loaded by
  batched upserts straight into the catalog's own ``videos`` shard (same config, WAL
  on, one flush at the end); the searches go through the catalog API.
- **FAISS** (the baseline): ``IndexBinaryFlat`` on the packed codes, ``search`` top
  ``coarse_limit``, keep Hamming <= threshold, then numpy L2 distances of those
  candidates' textures, top ``limit``.

Reported per size and threshold: p50/p95 latency of each, the Edge/FAISS ratio of
medians, whether each returned the planted item first, and how far their top lists
agree. Plus Edge load throughput (bulk and through ``upsert_video``).
"""

from __future__ import annotations

import argparse
import gc
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog

from vidsearch.bench.report import (
    MachineInfo,
    fmt,
    machine_info,
    md_table,
    percentile,
    section_header,
)

SECTION = "catalog"
TITLE = "Catalog search: Qdrant Edge vs FAISS IndexBinaryFlat"
HASH_BITS = 128

Log = Callable[[str], None]
T = TypeVar("T")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class CatalogBenchConfig:
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    queries: int = 100
    warmup: int = 10
    max_hamming: tuple[int, ...] = (40, 60)
    coarse_limit: int = 1000
    limit: int = 10
    texture_dim: int = 128
    flipped_bits: int = 8
    texture_noise: float = 0.3  # expected norm of the noise added to a query texture
    batch: int = 2000  # points per bulk upsert
    faiss_threads: int = 1
    api_videos: int = 100  # videos written through upsert_video (0: skip)
    api_keyframes: tuple[int, ...] = (0, 30)
    seed: int = 0
    work_dir: Path | None = None


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    cpu_p50_ms: float  # process CPU time (all threads) per query, median

    @staticmethod
    def of(wall_s: Sequence[float], cpu_s: Sequence[float]) -> Latency:
        return Latency(
            percentile([w * 1e3 for w in wall_s], 50),
            percentile([w * 1e3 for w in wall_s], 95),
            percentile([c * 1e3 for c in cpu_s], 50),
        )


@dataclass(frozen=True)
class SearchResult:
    size: int
    max_hamming: int
    queries: int
    edge: Latency
    faiss: Latency
    edge_top1: int  # queries whose first result is the planted item
    faiss_top1: int
    agreement: float  # mean |top-limit(Edge) ∩ top-limit(FAISS)| / max(len)
    mean_candidates: float  # codes within the threshold, capped at coarse_limit (FAISS side)

    @property
    def ratio(self) -> float:
        return self.edge.p50_ms / self.faiss.p50_ms if self.faiss.p50_ms > 0 else float("nan")


@dataclass(frozen=True)
class LoadResult:
    size: int
    generate_s: float
    edge_upsert_s: float
    edge_optimize_s: float
    edge_optimized: bool  # optimize() returned True (segments merged, quantization built)
    edge_segments: int
    edge_indexed_vectors: int  # vectors in indexed (quantized) segments, both named vectors
    edge_disk_mb: float
    faiss_add_s: float

    @property
    def edge_points_per_s(self) -> float:
        return self.size / self.edge_upsert_s if self.edge_upsert_s > 0 else float("nan")


@dataclass(frozen=True)
class ApiUpsertResult:
    videos: int
    keyframes_per_video: int
    seconds: float
    p50_ms: float  # per upsert_video call
    p95_ms: float

    @property
    def points(self) -> int:
        return self.videos * (1 + self.keyframes_per_video)


@dataclass
class CatalogBenchResult:
    config: CatalogBenchConfig
    machine: MachineInfo
    loads: list[LoadResult] = field(default_factory=list)
    searches: list[SearchResult] = field(default_factory=list)
    api: list[ApiUpsertResult] = field(default_factory=list)
    seconds: float = 0.0


# ---- data -----------------------------------------------------------------------------


@dataclass
class Dataset:
    codes: np.ndarray  # (n, 128) int8 of ±1
    packed: np.ndarray  # (n, 16) uint8, bit set where the code is +1
    textures: np.ndarray  # (n, d) float32, unit norm


def make_dataset(n: int, dim: int, rng: np.random.Generator) -> Dataset:
    bits = rng.random((n, HASH_BITS), dtype=np.float32) < 0.5
    codes = np.where(bits, np.int8(1), np.int8(-1))
    packed = np.packbits(bits, axis=1)
    textures = rng.standard_normal((n, dim), dtype=np.float32)
    textures /= np.linalg.norm(textures, axis=1, keepdims=True)
    return Dataset(codes, packed, textures)


@dataclass
class Queries:
    planted: np.ndarray  # (q,) index of the stored item each query was made from
    codes: np.ndarray  # (q, 128) float32 ±1
    packed: np.ndarray  # (q, 16) uint8
    textures: np.ndarray  # (q, d) float32


def make_queries(
    data: Dataset, count: int, flipped: int, noise: float, rng: np.random.Generator
) -> Queries:
    n, dim = data.textures.shape
    planted = rng.choice(n, size=count, replace=count > n)
    codes = data.codes[planted].astype(np.float32)
    for row in codes:
        row[rng.choice(HASH_BITS, size=flipped, replace=False)] *= -1.0
    textures = data.textures[planted] + rng.standard_normal(
        (count, dim), dtype=np.float32
    ) * np.float32(noise / np.sqrt(dim))
    textures /= np.linalg.norm(textures, axis=1, keepdims=True)
    return Queries(planted, codes, np.packbits(codes > 0, axis=1), textures)


def video_id(index: int) -> str:
    return f"v{index:08d}"


# ---- engines --------------------------------------------------------------------------


def bulk_load_edge(catalog: QdrantEdgeCatalog, data: Dataset, batch: int) -> float:
    """Batched upserts into the catalog's own ``videos`` shard; seconds incl. the flush.

    Same point ids and indexed payload fields as ``upsert_video`` writes (no key
    frames; the unindexed metadata fields are left out: payload conversion is the
    slowest part of the load).
    """
    import qdrant_edge as qe

    from vidsearch.catalog import schema as sc

    shard = catalog.shards[sc.VIDEOS]
    started = time.perf_counter()
    for start in range(0, len(data.codes), batch):
        stop = min(start + batch, len(data.codes))
        hashes = data.codes[start:stop].astype(np.float32).tolist()
        textures = data.textures[start:stop].tolist()
        points = []
        for offset, (h, t) in enumerate(zip(hashes, textures, strict=True)):
            vid = video_id(start + offset)
            points.append(
                qe.Point(
                    sc.video_point_id(vid),
                    {sc.VEC_HASH: h, sc.VEC_TEXTURE: t},
                    {sc.F_VIDEO_ID: vid, sc.F_MODEL_VERSION: 1, sc.F_GENERATION: 1},
                )
            )
        shard.update(qe.UpdateOperation.upsert_points(points))
    shard.flush()
    return time.perf_counter() - started


def faiss_search(
    index: Any,
    textures: np.ndarray,
    packed: np.ndarray,
    texture: np.ndarray,
    *,
    max_hamming: int,
    coarse_limit: int,
    limit: int,
) -> tuple[np.ndarray, int]:
    """(top ``limit`` ids by texture distance, number of coarse candidates)."""
    distances, ids = index.search(packed[None, :], coarse_limit)
    keep = (ids[0] >= 0) & (distances[0] <= max_hamming)
    candidates = ids[0][keep]
    if candidates.size == 0:
        return candidates, 0
    diff = textures[candidates] - texture
    dist = np.einsum("ij,ij->i", diff, diff)
    if candidates.size > limit:
        top = np.argpartition(dist, limit - 1)[:limit]
        order = top[np.argsort(dist[top], kind="stable")]
    else:
        order = np.argsort(dist, kind="stable")
    return candidates[order], int(candidates.size)


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _time_call(fn: Callable[[int], T], arg: int) -> tuple[T, float, float]:
    """(result, wall seconds, process CPU seconds across all threads)."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(arg)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def bench_size(
    n: int, cfg: CatalogBenchConfig, root: Path, log: Log
) -> tuple[LoadResult, list[SearchResult]]:
    import faiss

    from vidsearch.catalog import schema as sc
    from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog

    rng = np.random.default_rng([cfg.seed, n])
    started = time.perf_counter()
    data = make_dataset(n, cfg.texture_dim, rng)
    queries = make_queries(data, cfg.queries + cfg.warmup, cfg.flipped_bits, cfg.texture_noise, rng)
    generate_s = time.perf_counter() - started
    log(f"[catalog] n={n}: data generated in {generate_s:.1f} s")

    path = root / f"edge-{n}"
    shutil.rmtree(path, ignore_errors=True)
    faiss.omp_set_num_threads(cfg.faiss_threads)
    catalog = QdrantEdgeCatalog(path, texture_dim=cfg.texture_dim)
    try:
        upsert_s = bulk_load_edge(catalog, data, cfg.batch)
        log(f"[catalog] n={n}: Edge bulk upsert {upsert_s:.1f} s ({n / upsert_s:,.0f} points/s)")
        t = time.perf_counter()
        optimized = catalog.optimize()
        optimize_s = time.perf_counter() - t
        info = catalog.shards[sc.VIDEOS].info()
        log(
            f"[catalog] n={n}: Edge optimize {optimize_s:.1f} s (optimized={optimized}, "
            f"{info.segments_count} segments, {info.indexed_vectors_count} indexed vectors)"
        )
        t = time.perf_counter()
        index = faiss.IndexBinaryFlat(HASH_BITS)
        index.add(data.packed)
        add_s = time.perf_counter() - t
        load = LoadResult(
            n,
            generate_s,
            upsert_s,
            optimize_s,
            optimized,
            int(info.segments_count),
            int(info.indexed_vectors_count),
            _dir_mb(path),
            add_s,
        )

        results = []
        for max_hamming in cfg.max_hamming:
            results.append(_search_loop(n, max_hamming, catalog, index, data, queries, cfg))
            r = results[-1]
            log(
                f"[catalog] n={n} H<={max_hamming}: Edge p50 {r.edge.p50_ms:.2f} ms, "
                f"FAISS p50 {r.faiss.p50_ms:.2f} ms (x{r.ratio:.2f}); top-1 "
                f"Edge {r.edge_top1}/{r.queries}, FAISS {r.faiss_top1}/{r.queries}"
            )
    finally:
        catalog.close()
        shutil.rmtree(path, ignore_errors=True)
    return load, results


def _search_loop(
    n: int,
    max_hamming: int,
    catalog: QdrantEdgeCatalog,
    index: Any,
    data: Dataset,
    queries: Queries,
    cfg: CatalogBenchConfig,
) -> SearchResult:
    def edge(q: int) -> list[int]:
        found = catalog.search_videos(
            queries.codes[q],
            queries.textures[q],
            max_hamming=max_hamming,
            coarse_limit=cfg.coarse_limit,
            limit=cfg.limit,
        )
        return [int(c.info.video_id[1:]) for c in found]

    def base(q: int) -> tuple[np.ndarray, int]:
        return faiss_search(
            index,
            data.textures,
            queries.packed[q],
            queries.textures[q],
            max_hamming=max_hamming,
            coarse_limit=cfg.coarse_limit,
            limit=cfg.limit,
        )

    for q in range(cfg.warmup):
        edge(q)
        base(q)
    edge_wall, edge_cpu, faiss_wall, faiss_cpu = [], [], [], []
    edge_top1 = faiss_top1 = 0
    agreement, candidates = [], []
    for q in range(cfg.warmup, cfg.warmup + cfg.queries):
        # Alternate which engine goes first so neither always gets the warmer cache.
        if q % 2:
            edge_ids, ew, ec = _time_call(edge, q)
            (faiss_ids, count), fw, fc = _time_call(base, q)
        else:
            (faiss_ids, count), fw, fc = _time_call(base, q)
            edge_ids, ew, ec = _time_call(edge, q)
        edge_wall.append(ew)
        edge_cpu.append(ec)
        faiss_wall.append(fw)
        faiss_cpu.append(fc)
        planted = int(queries.planted[q])
        edge_top1 += bool(edge_ids) and edge_ids[0] == planted
        faiss_top1 += bool(len(faiss_ids)) and int(faiss_ids[0]) == planted
        both = max(len(edge_ids), len(faiss_ids))
        agreement.append(len(set(edge_ids) & set(faiss_ids.tolist())) / both if both else 1.0)
        candidates.append(count)
    return SearchResult(
        size=n,
        max_hamming=max_hamming,
        queries=cfg.queries,
        edge=Latency.of(edge_wall, edge_cpu),
        faiss=Latency.of(faiss_wall, faiss_cpu),
        edge_top1=edge_top1,
        faiss_top1=faiss_top1,
        agreement=float(np.mean(agreement)),
        mean_candidates=float(np.mean(candidates)),
    )


def bench_api_upserts(cfg: CatalogBenchConfig, root: Path, log: Log) -> list[ApiUpsertResult]:
    """Throughput of ``QdrantEdgeCatalog.upsert_video`` (three flushes per video)."""
    from vidsearch.catalog import KeyFrame, QdrantEdgeCatalog, VideoRecord

    out = []
    rng = np.random.default_rng([cfg.seed, 7])
    for frames in cfg.api_keyframes:
        data = make_dataset(cfg.api_videos * (1 + frames), cfg.texture_dim, rng)
        codes = data.codes.astype(np.float32)
        records = []
        for v in range(cfg.api_videos):
            base = v * (1 + frames)
            kfs = tuple(
                KeyFrame(float(k), codes[base + 1 + k], data.textures[base + 1 + k])
                for k in range(frames)
            )
            records.append(
                VideoRecord(video_id(v), codes[base], data.textures[base], 60.0, 1, keyframes=kfs)
            )
        path = root / f"api-{frames}"
        shutil.rmtree(path, ignore_errors=True)
        with QdrantEdgeCatalog(path, texture_dim=cfg.texture_dim) as catalog:
            calls = []
            for record in records:
                started = time.perf_counter()
                catalog.upsert_video(record)
                calls.append(time.perf_counter() - started)
        shutil.rmtree(path, ignore_errors=True)
        ms = [c * 1e3 for c in calls]
        result = ApiUpsertResult(
            cfg.api_videos, frames, sum(calls), percentile(ms, 50), percentile(ms, 95)
        )
        out.append(result)
        log(
            f"[catalog] upsert_video x{cfg.api_videos} with {frames} key frames: "
            f"p50 {result.p50_ms:.1f} ms/call, {result.points / result.seconds:,.0f} points/s"
        )
    return out


def run_catalog_bench(cfg: CatalogBenchConfig, log: Log = _stderr) -> CatalogBenchResult:
    """Every size (largest last), then the catalog-API upsert rates."""
    result = CatalogBenchResult(cfg, machine_info())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vidsearch-bench-catalog-", dir=cfg.work_dir) as tmp:
        root = Path(tmp)
        for n in sorted(cfg.sizes):
            load, searches = bench_size(n, cfg, root, log)
            result.loads.append(load)
            result.searches.extend(searches)
            gc.collect()
        if cfg.api_videos > 0:
            result.api = bench_api_upserts(cfg, root, log)
    result.seconds = time.perf_counter() - started
    return result


# ---- report ---------------------------------------------------------------------------


def to_markdown(result: CatalogBenchResult, command: str) -> str:
    cfg = result.config
    lines = [section_header(TITLE, command, result.machine)]
    lines.append(
        f"Synthetic catalog: random ±1 {HASH_BITS}-bit codes and random L2-normalised "
        f"{cfg.texture_dim}-d textures; {cfg.queries} queries per row (after {cfg.warmup} "
        f"warm-up), each a stored code with {cfg.flipped_bits} bits flipped and its texture "
        f"plus noise (norm ≈ {cfg.texture_noise}), the same queries for both engines, "
        f"interleaved. Search: Hamming ≤ max_hamming, coarse top {cfg.coarse_limit}, "
        f"texture rerank, top {cfg.limit}.\n\n"
        f"- **Qdrant Edge** (`QdrantEdgeCatalog.search_videos`, after `optimize()`): "
        f"loaded by batched upserts of {cfg.batch} points written directly into the "
        f"catalog's own `videos` shard (same shard config, WAL on, one flush at the end), "
        f"because `upsert_video` writes one video at a time with three flushes; the "
        f"searches go through the catalog API (Python call, payload and hash vector "
        f"returned, Hamming recomputed).\n"
        f"- **FAISS baseline**: `IndexBinaryFlat` on packed codes, `search(k={cfg.coarse_limit})`, "
        f"keep distance ≤ max_hamming, numpy L2 rerank of those candidates' textures; "
        f"FAISS OpenMP threads = {cfg.faiss_threads}. Edge uses its own threads (not "
        f"configurable from Python): compare the CPU columns too.\n"
        f"- Ratio = Edge p50 / FAISS p50 (same run). Top-1 = queries whose first result "
        f"is the planted item. Agreement = mean overlap of the two top-{cfg.limit} lists. "
        f"Candidates = codes within the threshold, capped at {cfg.coarse_limit}.\n"
    )
    lines.append("### Search latency (ms per query, single client)\n")
    rows = [
        [
            f"{s.size:,}",
            s.max_hamming,
            fmt(s.mean_candidates, 1),
            fmt(s.edge.p50_ms),
            fmt(s.edge.p95_ms),
            fmt(s.edge.cpu_p50_ms),
            fmt(s.faiss.p50_ms),
            fmt(s.faiss.p95_ms),
            fmt(s.faiss.cpu_p50_ms),
            f"{s.ratio:.2f}x",
            f"{s.edge_top1}/{s.queries}",
            f"{s.faiss_top1}/{s.queries}",
            fmt(s.agreement, 3),
        ]
        for s in result.searches
    ]
    lines.append(
        md_table(
            [
                "points",
                "max_hamming",
                "candidates",
                "Edge p50",
                "Edge p95",
                "Edge CPU p50",
                "FAISS p50",
                "FAISS p95",
                "FAISS CPU p50",
                "Edge/FAISS p50",
                "Edge top-1",
                "FAISS top-1",
                "top-10 agreement",
            ],
            rows,
        )
        + "\n"
    )
    lines.append("### Loading\n")
    lines.append(
        md_table(
            [
                "points",
                "Edge bulk upsert (points/s)",
                "Edge bulk upsert s",
                "Edge optimize s",
                "Edge segments / indexed vectors",
                "Edge on disk MB (both shards, WAL incl.)",
                "FAISS add s",
            ],
            [
                [
                    f"{x.size:,}",
                    f"{x.edge_points_per_s:,.0f}",
                    fmt(x.edge_upsert_s, 1),
                    fmt(x.edge_optimize_s, 1) + ("" if x.edge_optimized else " (nothing to do)"),
                    f"{x.edge_segments} / {x.edge_indexed_vectors:,}",
                    fmt(x.edge_disk_mb, 0),
                    fmt(x.faiss_add_s, 3),
                ]
                for x in result.loads
            ],
        )
        + "\n"
    )
    if result.api:
        lines.append("### Catalog API upserts (`upsert_video`, one video at a time, flushed)\n")
        lines.append(
            md_table(
                [
                    "videos",
                    "key frames / video",
                    "p50 ms / call",
                    "p95 ms / call",
                    "videos/s",
                    "points/s",
                ],
                [
                    [
                        a.videos,
                        a.keyframes_per_video,
                        fmt(a.p50_ms),
                        fmt(a.p95_ms),
                        fmt(a.videos / a.seconds, 1),
                        f"{a.points / a.seconds:,.0f}",
                    ]
                    for a in result.api
                ],
            )
            + "\n"
        )
    lines.append(f"Total run time {result.seconds:.0f} s.")
    return "\n".join(lines)


# ---- CLI ------------------------------------------------------------------------------


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x.replace("_", "")) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected integers like 1000,10000: {text!r}") from exc
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Options of this benchmark (``prefix`` namespaces them inside ``bench.run``)."""
    d = CatalogBenchConfig()
    p = f"--{prefix}"
    parser.add_argument(f"{p}sizes", type=_ints, default=d.sizes, help="catalog sizes")
    parser.add_argument(f"{p}queries", type=int, default=d.queries, help="timed queries per size")
    parser.add_argument(
        f"{p}max-hamming", type=_ints, default=d.max_hamming, help="thresholds to time"
    )
    parser.add_argument(f"{p}coarse-limit", type=int, default=d.coarse_limit)
    parser.add_argument(f"{p}texture-dim", type=int, default=d.texture_dim)
    parser.add_argument(f"{p}faiss-threads", type=int, default=d.faiss_threads)
    parser.add_argument(
        f"{p}api-videos", type=int, default=d.api_videos, help="upsert_video calls (0: skip)"
    )
    parser.add_argument(f"{p}seed", type=int, default=d.seed)


def config_from_args(args: argparse.Namespace, prefix: str = "") -> CatalogBenchConfig:
    a = prefix.replace("-", "_")
    return CatalogBenchConfig(
        sizes=getattr(args, f"{a}sizes"),
        queries=getattr(args, f"{a}queries"),
        max_hamming=getattr(args, f"{a}max_hamming"),
        coarse_limit=getattr(args, f"{a}coarse_limit"),
        texture_dim=getattr(args, f"{a}texture_dim"),
        faiss_threads=getattr(args, f"{a}faiss_threads"),
        api_videos=getattr(args, f"{a}api_videos"),
        seed=getattr(args, f"{a}seed"),
        warmup=min(10, max(1, getattr(args, f"{a}queries") // 10)),
    )


def config_argv(cfg: CatalogBenchConfig, prefix: str = "") -> list[str]:
    """The options that reproduce ``cfg`` (for the section's command line)."""
    p = f"--{prefix}"

    def join(values: tuple[int, ...]) -> str:
        return ",".join(str(v) for v in values)

    return [
        f"{p}sizes", join(cfg.sizes),
        f"{p}queries", str(cfg.queries),
        f"{p}max-hamming", join(cfg.max_hamming),
        f"{p}coarse-limit", str(cfg.coarse_limit),
        f"{p}texture-dim", str(cfg.texture_dim),
        f"{p}faiss-threads", str(cfg.faiss_threads),
        f"{p}api-videos", str(cfg.api_videos),
        f"{p}seed", str(cfg.seed),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    command = shlex.join(["python", "-m", "vidsearch.bench.catalog_search", *config_argv(cfg)])
    print(to_markdown(run_catalog_bench(cfg), command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
