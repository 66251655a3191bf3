"""Smallest catalog benchmark: both engines find the planted items; the section is complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.catalog_search import (
    CatalogBenchConfig,
    faiss_search,
    make_dataset,
    make_queries,
    run,
    to_markdown,
)

pytest.importorskip("faiss", reason="faiss-cpu (the bench extra) is not installed")

COMMAND = "python -m benchmarks --sections catalog --catalog.sizes 300,1000"


def test_faiss_baseline_finds_planted_item() -> None:
    import faiss

    rng = np.random.default_rng(0)
    data = make_dataset(500, 16, rng)
    queries = make_queries(data, 5, 8, 0.3, rng)
    index = faiss.IndexBinaryFlat(128)
    index.add(data.packed)
    for q in range(5):
        ids, count = faiss_search(
            index,
            data.textures,
            queries.packed[q],
            queries.textures[q],
            max_hamming=40,
            coarse_limit=1000,  # more than the index holds: padding (-1) is dropped
            limit=10,
        )
        assert ids[0] == queries.planted[q]
        assert 1 <= count <= 500 and len(ids) <= 10
        dist = np.count_nonzero(np.unpackbits(data.packed[ids[0]]) != (queries.codes[q] > 0))
        assert dist == 8


def test_smallest_catalog_bench(tmp_path: Path) -> None:
    cfg = CatalogBenchConfig(
        sizes=(300, 1000),
        queries=6,
        warmup=1,
        max_hamming=(40, 60),
        texture_dim=32,
        batch=256,
        api_videos=3,
        api_keyframes=(0, 2),
        work_dir=tmp_path,
    )
    result = run(cfg, log=lambda _: None)
    assert [s.size for s in result.searches] == [300, 300, 1000, 1000]
    for s in result.searches:
        assert s.edge_top1 == s.queries and s.faiss_top1 == s.queries
        assert s.edge.p50_ms > 0 and s.faiss.p50_ms > 0 and s.ratio > 0
        # FAISS's graph, asked for the nearest 100 codes, finds them when fewer qualify; when
        # hundreds do (1,000 codes, Hamming 60) the exact top 10 by texture lie beyond its 100
        assert s.hnsw is not None and s.hnsw.p50_ms > 0 and s.hnsw_agreement is not None
        few = s.mean_candidates <= 100
        assert s.hnsw_agreement >= 0.9 if few else s.hnsw_agreement < 0.9
    assert [x.size for x in result.loads] == [300, 1000]
    assert all(x.edge_points_per_s > 0 for x in result.loads)
    assert all(x.hnsw_add_s is not None and x.hnsw_add_s > 0 for x in result.loads)
    assert [a.keyframes_per_video for a in result.api] == [0, 2]
    md = to_markdown(result, COMMAND)
    lines = md.splitlines()
    assert lines[0].startswith("## Catalog search")
    assert lines[2] == f"Reproduce: `{COMMAND}`"
    assert any(line.startswith("- Machine: ") and "load average" in line for line in lines)
    for heading in ("### Search latency", "### Loading", "### Catalog API upserts"):
        assert any(line.startswith(heading) for line in lines)
    rows = [line for line in lines if line.startswith("| 1,000 |")]
    assert len(rows) == 3  # two thresholds + the loading row
    assert not list(tmp_path.iterdir())  # the temporary catalogs are gone
