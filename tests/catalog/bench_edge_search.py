"""Latency of the Edge catalog's searches at N points (a measurement, not a test).

    .venv/bin/python tests/catalog/bench_edge_search.py --videos 10000

Videos are bulk-loaded straight into the shards with the catalog's own point builders
(one flush instead of three per video), then ``search_videos`` (prefetch 1000 by hash
within Hamming 40, rerank by texture, top 10) and ``search_keyframes`` (a batch of 60
query frames) are timed before and after ``optimize()`` (which builds the binary
quantization). The key-frame time is split into the raw batch query and the commit
post-filter.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import qdrant_edge as qe

from vidsearch.catalog import KeyFrame, QdrantEdgeCatalog, VideoRecord
from vidsearch.catalog import schema as sc


def _load(catalog: QdrantEdgeCatalog, codes: np.ndarray, textures: np.ndarray, fpv: int) -> None:
    videos, frames = catalog.shards[sc.VIDEOS], catalog.shards[sc.KEYFRAMES]
    rng = np.random.default_rng(1)
    for start in range(0, len(codes), 1000):
        vpoints, fpoints = [], []
        for i in range(start, min(start + 1000, len(codes))):
            kf = [
                KeyFrame(float(t), codes[i] * np.sign(rng.normal(size=128) + 2.5), textures[i])
                for t in range(fpv)
            ]
            rec = VideoRecord(f"v{i}", codes[i], textures[i], 60.0, 1, keyframes=kf)
            fpoints += [qe.Point(*p) for p in sc.keyframe_points(rec, 1)]
            vpoints.append(
                qe.Point(
                    sc.video_point_id(rec.video_id), sc.video_vectors(rec), sc.video_payload(rec, 1)
                )
            )
        videos.update(qe.UpdateOperation.upsert_points(vpoints))
        frames.update(qe.UpdateOperation.upsert_points(fpoints))
    videos.flush()
    frames.flush()


def _time(fn: Callable[[], object], n: int) -> tuple[float, float]:
    fn()  # warm
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=10_000)
    ap.add_argument("--texture-dim", type=int, default=256)
    ap.add_argument("--frames-per-video", type=int, default=2)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n, dim = args.videos, args.texture_dim
    codes = np.where(rng.random((n, 128)) < 0.5, -1.0, 1.0).astype(np.float32)
    textures = rng.normal(size=(n, dim)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp, QdrantEdgeCatalog(tmp, texture_dim=dim) as catalog:
        t = time.perf_counter()
        _load(catalog, codes, textures, args.frames_per_video)
        print(
            f"bulk load {n} videos + {n * args.frames_per_video} frames: "
            f"{time.perf_counter() - t:.1f}s"
        )
        picks = rng.integers(0, n, size=args.queries)
        queries = [(codes[i] * np.where(rng.random(128) < 8 / 128, -1, 1), i) for i in picks]
        it = iter(range(10**9))

        def video_search() -> object:
            q, i = queries[next(it) % len(queries)]
            tex = textures[i] + rng.normal(scale=0.1, size=dim).astype(np.float32)
            return catalog.search_videos(
                q.astype(np.float32), tex, max_hamming=40, coarse_limit=1000, limit=10
            )

        fq = codes[rng.integers(0, n, 60)].copy()
        ft = textures[rng.integers(0, n, 60)].copy()

        def frame_search() -> object:
            return catalog.search_keyframes(fq, ft, max_hamming=20, limit_per_frame=10)

        ids = {f"v{i}" for i in range(0, n, max(1, n // 60))}

        def lookup() -> object:
            return catalog._committed(ids)

        for stage in ("before optimize", "after optimize"):
            if stage == "after optimize":
                t = time.perf_counter()
                catalog.optimize()
                print(f"optimize: {time.perf_counter() - t:.1f}s")
            hits = video_search()
            assert isinstance(hits, list) and hits, "no hit for a query with 8 flipped bits"
            p50, p95 = _time(video_search, args.queries)
            print(f"[{stage}] search_videos: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
            p50, p95 = _time(frame_search, 30)
            print(f"[{stage}] search_keyframes (60 frames): p50 {p50:.2f} ms, p95 {p95:.2f} ms")
            p50, p95 = _time(lookup, 30)
            print(f"[{stage}]   of which commit lookup of 60 videos: p50 {p50:.2f} ms")


if __name__ == "__main__":
    main()
