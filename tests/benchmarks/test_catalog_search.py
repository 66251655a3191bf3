"""Smallest catalog benchmark: both engines find the planted items; the section is complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.catalog_search import (
    CatalogBenchConfig,
    faiss_search,
    fit_at,
    make_dataset,
    make_queries,
    plant_families,
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
        assert s.coarse == "scan" and s.recall == 1.0  # an exact scan misses nothing
        assert s.copy_recall is None  # no families planted
    assert [x.size for x in result.loads] == [300, 1000]
    assert all(x.edge_points_per_s > 0 for x in result.loads)
    assert all(x.hnsw_add_s is not None and x.hnsw_add_s > 0 for x in result.loads)
    assert all(x.edge_ram_mb is not None for x in result.loads)
    assert [g[0] for g in result.growth] == ["300 → 1,000"]
    # both sizes are scanned: the exact scans are extended to 10M, no graph-walk curve
    assert {(f.max_hamming, f.engine.split(",")[0]) for f in result.fits} == {
        (h, e) for h in (40, 60) for e in ("FAISS IndexBinaryFlat", "FAISS IndexBinaryHNSW")}
    assert all(f.sizes == (300, 1000) for f in result.fits)
    assert [a.keyframes_per_video for a in result.api] == [0, 2]
    md = to_markdown(result, COMMAND)
    lines = md.splitlines()
    assert lines[0].startswith("## Catalog search")
    assert lines[2] == f"Reproduce: `{COMMAND}`"
    assert any(line.startswith("- Machine: ") and "load average" in line for line in lines)
    for heading in ("### Search latency", "### Loading", "### Catalog API upserts",
                    "### Larger catalogs, by extrapolation (10,000,000 codes"):
        assert any(line.startswith(heading) for line in lines)
    rows = [line for line in lines if line.startswith("| 1,000 |")]
    assert len(rows) == 3  # two thresholds + the loading row
    assert sum(line.startswith("| 40 | FAISS") for line in lines) == 2  # the fitted curves
    assert not list(tmp_path.iterdir())  # the temporary catalogs are gone


def test_families_are_near_copies_and_the_graph_finds_them(tmp_path: Path) -> None:
    """With near-copy families planted, the coarse recall of a graph walk is measured
    against FAISS's exact candidates, over all of them and over the query's family."""
    data = make_dataset(500, 8, np.random.default_rng(0))
    members = plant_families(data, 4, 10, np.random.default_rng(1))
    assert members.shape == (4, 11) and len(set(members.ravel().tolist())) == 44
    for row in members:
        bits = [np.count_nonzero(data.codes[r] != data.codes[row[0]]) for r in row[1:]]
        assert bits == [1 + (j * 31) // 10 for j in range(10)]  # 1 to 28 bits away
    cfg = CatalogBenchConfig(sizes=(3000,), queries=8, warmup=1, max_hamming=(24, 40),
                             texture_dim=16, families=30, family_size=10, hash_index="graph",
                             faiss_hnsw=False, api_videos=0, work_dir=tmp_path)  # fmt: skip
    result = run(cfg, log=lambda _: None)
    for s in result.searches:
        assert s.coarse == "graph" and s.edge_top1 == s.queries
        assert s.copy_recall == 1.0 and s.recall is not None and s.recall >= s.copy_recall - 0.2
    md = to_markdown(result, COMMAND)
    assert "30 families of near-copies" in md and "(a family's source)" in md


def test_fitted_curves_recover_the_line_they_were_drawn_from() -> None:
    sizes = [10_000, 100_000, 1_000_000]
    assert fit_at(sizes, [1.0 + 2.0 * k for k in (4, 5, 6)], 10_000_000, log=True) == (
        pytest.approx(15.0))
    assert fit_at(sizes, [0.5 + n / 1e5 for n in sizes], 10_000_000, log=False) == (
        pytest.approx(100.5))
