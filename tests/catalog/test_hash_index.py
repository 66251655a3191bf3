"""The coarse filter's scan-or-graph switch on a real Qdrant Edge catalog: the graph walk
keeps >= 99% of the exact result at the Hamming threshold, and below ``graph_above`` the
filter is the exact scan (a deliberately weak graph shows which one answered). The switch
is set when a store is created (Qdrant's per-segment full-scan threshold)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from vidsearch.catalog import schema as sc
from vidsearch.catalog.hash_index import FULL_SCAN, HashIndex
from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog
from vidsearch.catalog.snapshot_chunks import StoredPoint

CODES, FAMILIES, MEMBERS, QUERIES, MAX_HAMMING, PROBE = 12_000, 400, 10, 40, 40, 100
TUNED = HashIndex(mode="graph", probe=PROBE)  # the default graph settings
WEAK = dict(m=2, ef_construct=4, ef=1, probe=PROBE)  # a graph that must miss codes


@pytest.fixture(scope="module")
def codes() -> tuple[np.ndarray, np.ndarray]:
    """Random codes with families (members 4-30 bits from their source), and queries
    8 bits from a member: many codes within the threshold of each other, as with copies."""
    rng = np.random.default_rng(16)
    data = np.where(rng.random((CODES, 128)) < 0.5, 1.0, -1.0).astype(np.float32)
    for f in range(FAMILIES):
        for j in range(MEMBERS):
            row = data[f].copy()
            row[rng.choice(128, size=int(rng.integers(4, 31)), replace=False)] *= -1
            data[FAMILIES + f * MEMBERS + j] = row
    queries = data[rng.choice(FAMILIES * (MEMBERS + 1), size=QUERIES, replace=False)].copy()
    for q in queries:
        q[rng.choice(128, size=8, replace=False)] *= -1
    return data, queries


def _load(path: Path, data: np.ndarray, hash_index: HashIndex) -> QdrantEdgeCatalog:
    """A catalog of ``data`` whose segments are indexed at this small size (Qdrant's
    default indexing threshold is ~20k codes a segment; ``index_above`` lowers it), so
    ``optimize`` builds the quantization and, where configured, the graph."""
    hash_index = dataclasses.replace(hash_index, index_above=1)
    catalog = QdrantEdgeCatalog(path, texture_dim=4, hash_index=hash_index)
    texture = [1.0, 0.0, 0.0, 0.0]  # all equal: the rerank keeps the coarse set as it is
    for start in range(0, len(data), 2000):
        catalog.store.upsert(sc.VIDEOS, [
            StoredPoint(sc.video_point_id(f"v{i}"), {sc.VEC_HASH: data[i].tolist(),
                                                     sc.VEC_TEXTURE: texture},
                        {sc.F_VIDEO_ID: f"v{i}", sc.F_MODEL_VERSION: 1})
            for i in range(start, min(start + 2000, len(data)))
        ])  # fmt: skip
    assert catalog.optimize()
    catalog.close()  # reopened: the catalog counts its stores' codes when it opens them
    return QdrantEdgeCatalog(path, hash_index=hash_index)


def _recall(catalog: QdrantEdgeCatalog, data: np.ndarray, queries: np.ndarray) -> float:
    """Mean share of the exact coarse set (codes within the threshold, nearest PROBE)
    that the catalog's search returns."""
    found = []
    for q in queries:
        hamming = np.count_nonzero((data > 0) != (q > 0), axis=1)
        within = np.nonzero(hamming <= MAX_HAMMING)[0]
        want = {f"v{i}" for i in within[np.argsort(hamming[within], kind="stable")][:PROBE]}
        hits = catalog.search_videos(q, np.array([1.0, 0, 0, 0], np.float32),
                                     max_hamming=MAX_HAMMING, coarse_limit=PROBE, limit=PROBE)
        got = {h.info.video_id for h in hits}
        assert all(h.hamming <= MAX_HAMMING for h in hits)
        found.append(len(got & want) / len(want))
    return float(np.mean(found))


def test_graph_walk_keeps_the_exact_result(
    tmp_path: Path, codes: tuple[np.ndarray, np.ndarray]
) -> None:
    data, queries = codes
    with _load(tmp_path / "tuned", data, TUNED) as catalog:
        assert _recall(catalog, data, queries) >= 0.99


def test_auto_scans_below_graph_above_and_walks_above(
    tmp_path: Path, codes: tuple[np.ndarray, np.ndarray]
) -> None:
    data, queries = codes
    walk = HashIndex(mode="auto", graph_above=1_000, **WEAK)  # type: ignore[arg-type]
    with _load(tmp_path / "walk", data, walk) as catalog:
        walked = _recall(catalog, data, queries)
    scan = HashIndex(mode="auto", graph_above=10 * CODES, **WEAK)  # type: ignore[arg-type]
    with _load(tmp_path / "scan", data, scan) as catalog:
        scanned = _recall(catalog, data, queries)
    assert scanned == 1.0, "below graph_above the coarse filter must be the exact scan"
    assert walked < 0.99, "the weak graph missed nothing: the walk was not taken"


def test_coarse_parameters_follow_the_store_size() -> None:
    auto = HashIndex(mode="auto", graph_above=1000, ef=64, probe=50)
    assert auto.coarse(lambda: 999, 1000) == (FULL_SCAN, 1000)
    params, limit = auto.coarse(lambda: 1000, 1000)
    assert (params.hnsw_ef, params.exact, limit) == (64, False, 50)
    assert HashIndex(mode="scan").coarse(lambda: 10**9, 1000) == (FULL_SCAN, 1000)
    assert HashIndex(mode="scan").graph_m == 0 and auto.graph_m == 32
    assert auto.full_scan_threshold_kb == 500  # 1000 codes x 128 floats x 4 bytes
    assert auto.indexing_threshold_kb is None  # Qdrant's own default
    assert HashIndex(index_above=1000).indexing_threshold_kb == 500
    with pytest.raises(ValueError, match=">= 1"):
        HashIndex(probe=0)
    with pytest.raises(ValueError, match=">= 1"):
        HashIndex(index_above=0)
