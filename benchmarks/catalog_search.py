"""Search-stage latency: Qdrant Edge catalog vs FAISS IndexBinaryFlat + numpy rerank, on the
same synthetic catalog and queries, interleaved; bulk-load and ``upsert_video`` rates. The
text (sections/catalog.md) says how each engine is loaded and searched."""

from __future__ import annotations

import gc
import itertools
import shutil
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from benchmarks import harness as bench

if TYPE_CHECKING:
    from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog

HASH_BITS = 128


class CatalogBenchConfig(bench.SectionConfig):
    sizes: tuple[int, ...] = (300, 1000)
    """catalog sizes (points), largest last"""
    queries: int = 6
    """timed queries per size and threshold"""
    warmup: int = 1
    """untimed queries first"""
    max_hamming: tuple[int, ...] = (40, 60)
    """Hamming thresholds to time"""
    coarse_limit: int = 1000
    limit: int = 10
    texture_dim: int = 128
    flipped_bits: int = 8
    families: int = 0
    """near-copy families (0: none): a source code and its copies 1-32 bits away, as a
    video's re-uploads are; the queries are drawn from their sources"""
    family_size: int = 20
    """copies per family"""
    texture_noise: float = 0.3
    """expected norm of the noise added to a query texture"""
    batch: int = 2000
    """points per bulk upsert"""
    faiss_threads: int = 1
    faiss_hnsw: bool = True
    """also time FAISS IndexBinaryHNSW with the graph settings of catalog.hash_index"""
    api_videos: int = 3
    """videos written through upsert_video (0: skip)"""
    api_keyframes: tuple[int, ...] = (0, 30)
    """key frames per video of the upsert_video runs"""
    hash_index: Literal["auto", "scan", "graph"] = "auto"
    """the catalog's coarse filter (catalog.hash_index.mode): exact scan, HNSW graph walk"""
    graph_above: int = 200_000
    """auto: codes per segment from which the graph is walked"""
    seed: int = 0
    work_dir: Path | None = None
    """where the temporary catalogs go (default: the system's temporary folder)"""
    extrapolate_to: int = 10_000_000
    """catalog size the fitted latency curves are extended to (sizes too big to build here)"""


@dataclass(frozen=True)
class SearchResult:
    size: int
    max_hamming: int
    coarse: str  # how Edge's coarse filter ran: scan or graph
    queries: int
    edge: bench.Latency
    faiss: bench.Latency
    edge_top1: int  # queries whose first result is the planted item
    faiss_top1: int
    agreement: float  # mean |top-limit(Edge) ∩ top-limit(FAISS)| / max(len)
    mean_candidates: float  # codes within the threshold, capped at coarse_limit (FAISS side)
    ratio: float  # Edge p50 / FAISS p50
    hnsw: bench.Latency | None = None  # FAISS IndexBinaryHNSW, the same queries after
    hnsw_agreement: float | None = None  # its top-limit vs the exact (IndexBinaryFlat) one
    recall: float | None = None  # Edge's coarse candidates vs every code within the threshold
    copy_recall: float | None = None  # the same, of the query's near-copies (families)


@dataclass(frozen=True)
class LoadResult:
    size: int
    edge_upsert_s: float
    edge_optimize_s: float
    edge_optimized: bool  # optimize() returned True (segments merged, quantization built)
    edge_segments: int
    edge_indexed_vectors: int  # vectors in indexed (quantized) segments, both named vectors
    edge_disk_mb: float
    faiss_add_s: float
    edge_points_per_s: float  # bulk upsert
    hnsw_add_s: float | None = None  # FAISS IndexBinaryHNSW build
    edge_ram_mb: float | None = None  # process RSS growth over Edge's load and optimize


@dataclass(frozen=True)
class Fit:
    """A latency curve fitted to the measured sizes and read at a size not built here."""

    max_hamming: int
    engine: str
    form: str  # the curve, in words
    sizes: tuple[int, ...]  # the sizes it was fitted to
    at_ms: float  # its p50 at the extrapolated size
    largest_ms: float  # the measured p50 at the largest size, for scale

    @property
    def fitted_to(self) -> str:
        return ", ".join(f"{n:,}" for n in self.sizes)


def fit_at(sizes: Sequence[int], p50s: Sequence[float], at: int, log: bool) -> float:
    """Least-squares p50 = a + b·x, x = log10(n) (a graph walk) or n (a scan), read at ``at``."""
    x = np.log10(np.asarray(sizes, float)) if log else np.asarray(sizes, float)
    b, a = np.polyfit(x, np.asarray(p50s, float), 1)
    return float(a + b * (np.log10(at) if log else at))


@dataclass(frozen=True)
class ApiUpsertResult:
    videos: int
    keyframes_per_video: int
    latency: bench.Latency  # per upsert_video call
    videos_per_s: float  # over the calls' total time
    points_per_s: float  # the videos' points and their key frames'


@dataclass
class CatalogBenchResult(bench.SectionResult[CatalogBenchConfig]):
    loads: list[LoadResult] = field(default_factory=list)
    searches: list[SearchResult] = field(default_factory=list)
    api: list[ApiUpsertResult] = field(default_factory=list)

    @property
    def growth(self) -> list[tuple[str, float, float | None, float]]:
        """Per million more codes between consecutive sizes: (sizes, disk MB, RAM MB, optimize
        s). Marginal, because an empty Edge shard already takes ~400 MB of preallocated WAL."""
        out = []
        for a, b in itertools.pairwise(self.loads):
            per = 1e6 / (b.size - a.size)
            ram = (None if a.edge_ram_mb is None or b.edge_ram_mb is None
                   else (b.edge_ram_mb - a.edge_ram_mb) * per)
            out.append((f"{a.size:,} → {b.size:,}", (b.edge_disk_mb - a.edge_disk_mb) * per, ram,
                        (b.edge_optimize_s - a.edge_optimize_s) * per))
        return out

    @property
    def fits(self) -> list[Fit]:
        """Per threshold: Edge's graph walk and FAISS's HNSW as a + b·log10(n) over the
        sizes walked, FAISS's exact scan as a + b·n over every size; two sizes at least."""
        at, out = self.config.extrapolate_to, []
        for h in sorted({s.max_hamming for s in self.searches}):
            rows = [s for s in self.searches if s.max_hamming == h]
            walked = [s for s in rows if s.coarse == "graph"]
            curves = [("Qdrant Edge, graph walk", "a + b·log10(n)", walked,
                       [s.edge.p50_ms for s in walked]),
                      ("FAISS IndexBinaryFlat, exact scan", "a + b·n", rows,
                       [s.faiss.p50_ms for s in rows])]
            if all(s.hnsw is not None for s in rows):
                curves.append(("FAISS IndexBinaryHNSW", "a + b·log10(n)", rows,
                               [s.hnsw.p50_ms for s in rows if s.hnsw is not None]))
            for engine, form, used, p50s in curves:
                if len({s.size for s in used}) >= 2:
                    sizes = tuple(s.size for s in used)
                    out.append(Fit(h, engine, form, sizes,
                                   fit_at(sizes, p50s, at, log="log" in form), p50s[-1]))
        return out


@dataclass
class Codes:
    """Stored items (``make_dataset``) or queries made from them (``make_queries``)."""

    codes: np.ndarray  # (n, 128) of ±1: int8 stored, float32 queries
    textures: np.ndarray  # (n, d) float32, unit norm
    planted: np.ndarray | None = None  # a query's stored item

    @cached_property
    def packed(self) -> np.ndarray:  # (n, 16) uint8, bit set where the code is +1
        return np.packbits(self.codes > 0, axis=1)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_dataset(n: int, dim: int, rng: np.random.Generator) -> Codes:
    bits = rng.random((n, HASH_BITS), dtype=np.float32) < 0.5
    return Codes(np.where(bits, np.int8(1), np.int8(-1)), unit(rng.standard_normal(
        (n, dim), dtype=np.float32)))  # fmt: skip


def plant_families(data: Codes, families: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Overwrite the last ``families * size`` codes with copies of ``families`` sources
    (copy j of a family 1 + 31j/size bits away); the (families, 1 + size) member rows, the
    source first."""
    n = len(data.codes)
    if families * (size + 1) > n:
        raise ValueError(f"{families} families of {size} copies do not fit in {n} codes")
    sources = rng.choice(n - families * size, size=families, replace=False)
    copies = np.arange(n - families * size, n).reshape(families, size)
    for source, rows in zip(sources, copies, strict=True):
        for j, row in enumerate(rows):
            code = data.codes[source].copy()
            code[rng.choice(HASH_BITS, size=1 + (j * 31) // size, replace=False)] *= -1
            data.codes[row] = code
    data.__dict__.pop("packed", None)  # the codes changed
    return np.concatenate([sources[:, None], copies], axis=1)


def make_queries(
    data: Codes, count: int, flipped: int, noise: float, rng: np.random.Generator,
    sources: np.ndarray | None = None,
) -> Codes:  # fmt: skip
    """``count`` queries, each a stored code (one of ``sources`` when given) with ``flipped``
    bits flipped and its texture plus noise."""
    n, dim = data.textures.shape
    pool = n if sources is None else sources
    planted = rng.choice(pool, size=count, replace=count > np.size(pool))
    codes = data.codes[planted].astype(np.float32)
    for row in codes:
        row[rng.choice(HASH_BITS, size=flipped, replace=False)] *= -1.0
    scale = np.float32(noise / np.sqrt(dim))
    noisy = data.textures[planted] + rng.standard_normal((count, dim), dtype=np.float32) * scale
    return Codes(codes, unit(noisy), planted)


def video_id(index: int) -> str:
    return f"v{index:08d}"


def bulk_load_edge(catalog: QdrantEdgeCatalog, data: Codes, batch: int) -> None:
    """Batched upserts into the catalog's own ``videos`` shard, then a flush.

    Same point ids and indexed payload fields as ``upsert_video`` writes (no key frames, no
    unindexed metadata: payload conversion is the slowest part of the load).
    """
    import qdrant_edge as qe

    from vidsearch.catalog import schema as sc

    shard = catalog.shards[sc.VIDEOS]
    for start in range(0, len(data.codes), batch):
        rows = slice(start, start + batch)
        hashes = data.codes[rows].astype(np.float32).tolist()
        shard.update(qe.UpdateOperation.upsert_points([
            qe.Point(sc.video_point_id(video_id(i)), {sc.VEC_HASH: h, sc.VEC_TEXTURE: t},
                     {sc.F_VIDEO_ID: video_id(i), sc.F_MODEL_VERSION: 1, sc.F_GENERATION: 1})
            for i, h, t in zip(itertools.count(start), hashes, data.textures[rows].tolist())
        ]))  # fmt: skip
    shard.flush()


def within(index: Any, packed: np.ndarray, max_hamming: int, k: int) -> np.ndarray:
    """Ids of the ``k`` codes nearest a query (packed, [1, 16]) that lie within the threshold."""
    distances, ids = index.search(packed, k)
    return ids[0][(ids[0] >= 0) & (distances[0] <= max_hamming)]


def faiss_search(
    index: Any, textures: np.ndarray, packed: np.ndarray, texture: np.ndarray, *,
    max_hamming: int, coarse_limit: int, limit: int,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """(top ``limit`` ids by texture distance, number of coarse candidates)."""
    candidates = within(index, packed[None, :], max_hamming, coarse_limit)
    diff = textures[candidates] - texture
    dist = np.einsum("ij,ij->i", diff, diff)
    top = np.argpartition(dist, limit - 1)[:limit] if dist.size > limit else np.arange(dist.size)
    return candidates[top[np.argsort(dist[top], kind="stable")]], int(candidates.size)


def bench_size(n: int, cfg: CatalogBenchConfig, root: Path, log: bench.Log,
               result: CatalogBenchResult) -> None:
    """Each threshold's searches on a catalog of ``n`` points in both engines, and its loading."""
    import faiss
    import psutil

    from vidsearch.catalog import schema as sc
    from vidsearch.catalog.hash_index import HashIndex
    from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog

    rng = np.random.default_rng([cfg.seed, n])
    data = make_dataset(n, cfg.texture_dim, rng)
    members = plant_families(data, cfg.families, cfg.family_size, rng) if cfg.families else None
    queries = make_queries(data, cfg.queries + cfg.warmup, cfg.flipped_bits, cfg.texture_noise,
                           rng, None if members is None else members[:, 0])  # fmt: skip
    path = root / f"edge-{n}"
    faiss.omp_set_num_threads(cfg.faiss_threads)
    hash_index = HashIndex(mode=cfg.hash_index, graph_above=cfg.graph_above)
    process = psutil.Process()
    rss = process.memory_info().rss
    catalog = QdrantEdgeCatalog(path, texture_dim=cfg.texture_dim, hash_index=hash_index)
    with closing(catalog):
        _, upsert_s, _ = bench.timed(bulk_load_edge, catalog, data, cfg.batch)
        optimized, optimize_s, _ = bench.timed(catalog.optimize)
        ram_mb = (process.memory_info().rss - rss) / 1e6
        info = catalog.shards[sc.VIDEOS].info()
        log(f"[catalog] n={n}: Edge bulk upsert {upsert_s:.1f} s, optimize {optimize_s:.1f} s "
            f"({info.segments_count} segments, {info.indexed_vectors_count} indexed vectors)")
        index = faiss.IndexBinaryFlat(HASH_BITS)
        _, add_s, _ = bench.timed(index.add, data.packed)
        hnsw, hnsw_add_s = None, None
        if cfg.faiss_hnsw:  # the graph Qdrant walks, built by FAISS: is lost recall Qdrant's?
            hnsw = faiss.IndexBinaryHNSW(HASH_BITS, hash_index.m)
            hnsw.hnsw.efConstruction, hnsw.hnsw.efSearch = hash_index.ef_construct, hash_index.ef
            _, hnsw_add_s, _ = bench.timed(hnsw.add, data.packed)
        disk_mb = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
        searches = [search(n, h, catalog, (index, hnsw), data, queries, cfg, members)
                    for h in cfg.max_hamming]
        for r in searches:
            log(f"[catalog] n={n} H<={r.max_hamming}: Edge p50 {r.edge.p50_ms:.2f} ms, "
                f"FAISS p50 {r.faiss.p50_ms:.2f} ms (x{r.ratio:.2f})")
    shutil.rmtree(path, ignore_errors=True)  # the next size's room (scratch removes the rest)
    result.searches += searches
    result.loads.append(LoadResult(n, upsert_s, optimize_s, optimized, int(info.segments_count),
                                   int(info.indexed_vectors_count), disk_mb, add_s,
                                   bench.ratio(n, upsert_s), hnsw_add_s, ram_mb))  # fmt: skip


def search(
    n: int, max_hamming: int, catalog: QdrantEdgeCatalog, indexes: tuple[Any, Any],
    data: Codes, queries: Codes, cfg: CatalogBenchConfig, members: np.ndarray | None = None,
) -> SearchResult:  # fmt: skip
    """Edge and the exact FAISS scan, the same queries interleaved (warm-up first): latency
    and agreement; then FAISS's HNSW graph (if built) on the same queries; then, untimed, the
    recall of Edge's coarse filter (asked for all its candidates: limit = coarse limit)
    against FAISS's exact candidates (the nearest coarse-limit codes within the threshold),
    of all of them and of the query's family members among them."""
    index, hnsw = indexes

    def edge(q: int, limit: int = cfg.limit) -> list[int]:
        found = catalog.search_videos(queries.codes[q], queries.textures[q],
                                      max_hamming=max_hamming, coarse_limit=cfg.coarse_limit,
                                      limit=limit)  # fmt: skip
        return [int(c.info.video_id[1:]) for c in found]

    def faiss_top(engine: Any, coarse_limit: int) -> Callable[[int], tuple[np.ndarray, int]]:
        return lambda q: faiss_search(
            engine, data.textures, queries.packed[q], queries.textures[q],
            max_hamming=max_hamming, coarse_limit=coarse_limit, limit=cfg.limit)

    edge_runs, faiss_runs = bench.alternate(edge, faiss_top(index, cfg.coarse_limit),
                                            cfg.queries, cfg.warmup)  # fmt: skip
    edge_ids = [ids for ids, _, _ in edge_runs]
    faiss_ids = [ids.tolist() for (ids, _), _, _ in faiss_runs]
    planted = list(queries.planted[cfg.warmup:]) if queries.planted is not None else []

    def top1(found: list[list[int]]) -> int:  # queries whose first result is the planted item
        return sum(bool(ids) and ids[0] == p for ids, p in zip(found, planted, strict=True))

    def agreement(found: list[list[int]]) -> float:  # mean overlap with the exact top-limit
        return float(np.mean([len(set(e) & set(f)) / max(len(e), len(f)) if e or f else 1.0
                              for e, f in zip(found, faiss_ids, strict=True)]))  # fmt: skip

    edge_p, faiss_p = bench.Latency.of(edge_runs), bench.Latency.of(faiss_runs)
    coarse = "graph" if catalog.hash_index.walks_graph(lambda: n) else "scan"
    hnsw_p, hnsw_agreement = None, None
    if hnsw is not None:  # asked for the nearest `probe` codes, as the catalog's graph walk is
        walk = faiss_top(hnsw, catalog.hash_index.probe)  # warm-up calls first, not kept
        hnsw_runs = [bench.timed(walk, q) for q in range(cfg.warmup + cfg.queries)][cfg.warmup :]
        hnsw_p = bench.Latency.of(hnsw_runs)
        hnsw_agreement = agreement([ids.tolist() for (ids, _), _, _ in hnsw_runs])
    family_of = {} if members is None else {int(row[0]): set(row.tolist()) for row in members}
    every, copies = [], []
    for q in range(cfg.warmup, len(queries.codes)):
        got = set(edge(q, cfg.coarse_limit))
        packed = queries.packed[q : q + 1]
        exact = set(within(index, packed, max_hamming, cfg.coarse_limit).tolist())
        every.append(len(got & exact) / len(exact) if exact else 1.0)
        if family_of:
            near = family_of[int(queries.planted[q])] & exact  # type: ignore[index]
            copies.append(len(got & near) / len(near) if near else 1.0)
    return SearchResult(
        n, max_hamming, coarse, cfg.queries, edge_p, faiss_p, top1(edge_ids), top1(faiss_ids),
        agreement(edge_ids), float(np.mean([count for (_, count), _, _ in faiss_runs])),
        bench.ratio(edge_p.p50_ms, faiss_p.p50_ms), hnsw_p, hnsw_agreement,
        float(np.mean(every)), float(np.mean(copies)) if copies else None,
    )  # fmt: skip


def bench_api_upserts(cfg: CatalogBenchConfig, root: Path, log: bench.Log,
                      result: CatalogBenchResult) -> None:
    """Throughput of ``QdrantEdgeCatalog.upsert_video`` (three flushes per video)."""
    from vidsearch.catalog import KeyFrame, QdrantEdgeCatalog, VideoRecord

    rng = np.random.default_rng([cfg.seed, 7])
    for frames in cfg.api_keyframes:
        data = make_dataset(cfg.api_videos * (1 + frames), cfg.texture_dim, rng)
        codes, textures = data.codes.astype(np.float32), data.textures
        records = []
        for v in range(cfg.api_videos):  # video v: row b, then its key frames
            b = v * (1 + frames)
            kfs = [KeyFrame(float(k), codes[b + 1 + k], textures[b + 1 + k]) for k in range(frames)]
            records.append(VideoRecord(video_id(v), codes[b], textures[b], 60.0, 1, tuple(kfs)))
        path = root / f"api-{frames}"
        with QdrantEdgeCatalog(path, texture_dim=cfg.texture_dim) as catalog:
            calls = [bench.timed(catalog.upsert_video, record) for record in records]
        shutil.rmtree(path, ignore_errors=True)
        seconds = sum(c[1] for c in calls)
        rates = cfg.api_videos / seconds, cfg.api_videos * (1 + frames) / seconds
        result.api.append(ApiUpsertResult(cfg.api_videos, frames, bench.Latency.of(calls),
                                          *rates))
        log(f"[catalog] upsert_video x{cfg.api_videos} with {frames} key frames: "
            f"p50 {result.api[-1].latency.p50_ms:.1f} ms/call")


def run(cfg: CatalogBenchConfig, log: bench.Log = bench.stderr) -> CatalogBenchResult:
    """Every size (largest last), then the catalog-API upsert rates."""
    result = CatalogBenchResult(cfg)
    with bench.scratch("catalog", cfg.work_dir) as root:
        for n in sorted(cfg.sizes):
            bench_size(n, cfg, root, log, result)
            gc.collect()
        if cfg.api_videos > 0:
            bench_api_upserts(cfg, root, log, result)
    return result.finished()


def to_markdown(result: CatalogBenchResult, command: str) -> str:
    from vidsearch.catalog.hash_index import HashIndex

    cfg = result.config
    families = (f", of which {cfg.families:,} families of near-copies: a source code and "
                f"{cfg.family_size} copies of it 1 to 32 bits away (as re-uploads of a video "
                "are), the rest unrelated") if cfg.families else ""
    return bench.render("catalog", result, command, hash_bits=HASH_BITS, graph=HashIndex(),
                        families_text=families,
                        query_source=" (a family's source)" if cfg.families else "")
