"""How the hash coarse filter finds the codes within the Hamming threshold: scan or graph.

A scan over the binary-quantized codes (xor/popcount) is exact, and its cost grows with
the store: ~3 ms at 100k codes, ~10-18 ms at 1M on 2 cores. An HNSW graph over the codes
answers in near-constant time but may miss codes, and only when it is asked for few of
them: Qdrant walks at least ``limit`` candidates, so a graph asked for the top 1000 costs
as much as the scan. The graph path therefore asks for ``probe`` codes (the nearest ones:
those within the threshold that matter, a copy is a few bits away) with ``hnsw_ef``.

The switch is Qdrant's own, per segment: a segment whose hash vectors take less than the
full-scan threshold is scanned, a larger one with a graph is walked. ``graph_above``
sets that threshold in codes, so one number decides for Edge and for a cluster alike;
segments not optimised yet have no graph and are always scanned. These settings are
fixed when a store is created, except ``ef`` and ``probe``, which each query sends.

What the graph misses (BENCHMARKS.md, "Catalog search", with near-copy families planted
among random codes): never a near-copy, nor any code within the search's default Hamming
24, at 100k and 1M codes; at Hamming 40 it loses ~10% of the *unrelated* codes that lie
36-40 bits from the query by chance at 1M (FAISS's own HNSW on the same codes as many).
``ef`` 128 is the default: on idle cores (top-10 agreement with the exact scan) 0.8 ms at
100k codes (1.000 / 0.999 at Hamming 24 / 40) and 1.1 ms at 1M (1.000 / 0.89), where ef
256 took 1.6 and 2.6 ms for 1.000 / 0.92. Qdrant builds the graph of every segment past
its indexing threshold (~20k codes), also of one that ``auto`` scans: 725 s for 1M codes
at m=32 on 2 cores, paid when segments are optimised; a sparser graph (m=16,
ef_construct 100) kept only 0.63 of the codes within Hamming 40 at 1M. ``auto`` walks
segments from 100k codes (below, the exact scan costs ~1-3 ms).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from qdrant_client import models as qm

from vidsearch.catalog.base import HASH_BITS

HashIndexMode = Literal["auto", "scan", "graph"]
_BYTES_PER_CODE = HASH_BITS * 4  # Qdrant sizes the full-scan threshold by float vectors
# The hash vectors of a store scanned whole (no graph): ``exact=False`` still scans, but
# over the binary-quantized codes, which is exact for ±1 vectors and 4x faster than
# exact=True (which skips the quantization). Rescoring ±1 codes would add nothing.
FULL_SCAN = qm.SearchParams(exact=False, quantization=qm.QuantizationSearchParams(rescore=False))


@dataclass(frozen=True)
class HashIndex:
    """``scan``: no graph, every query scans (exact). ``graph``: every optimised segment
    has a graph and is walked. ``auto``: segments of at least ``graph_above`` codes get a
    graph and are walked, smaller ones are scanned."""

    mode: HashIndexMode = "auto"
    graph_above: int = 100_000
    m: int = 32
    ef_construct: int = 256
    ef: int = 128
    probe: int = 100
    index_above: int | None = None  # codes per segment Qdrant indexes from (None: its default)

    def __post_init__(self) -> None:
        settings = (self.graph_above, self.m, self.ef_construct, self.ef, self.probe)
        if min(settings) < 1 or (self.index_above is not None and self.index_above < 1):
            raise ValueError(f"hash index settings must be >= 1: {self}")

    @property
    def graph_m(self) -> int:
        """Edges per node of the graph Qdrant builds (0: none)."""
        return 0 if self.mode == "scan" else self.m

    @property
    def full_scan_threshold_kb(self) -> int:
        """Qdrant's per-segment switch: segments smaller than this (KB of float vectors)
        are scanned even when they have a graph."""
        codes = 1 if self.mode == "graph" else self.graph_above
        return _kb(codes)

    @property
    def indexing_threshold_kb(self) -> int | None:
        """Qdrant's optimizer threshold: a segment from this size (KB of float vectors) gets
        its binary quantization and graph built when optimised; None keeps Qdrant's default
        (~20k codes), below which a segment stays a plain scan whatever the mode."""
        return None if self.index_above is None else _kb(self.index_above)

    def walks_graph(self, codes: Callable[[], int]) -> bool:
        """Whether a store may hold a segment that is walked; ``codes()`` (its size) is
        asked only in ``auto``, the one mode that depends on it."""
        return self.mode == "graph" or (self.mode == "auto" and codes() >= self.graph_above)

    def coarse(self, codes: Callable[[], int], limit: int) -> tuple[qm.SearchParams, int]:
        """Search parameters and limit of a coarse query on a store of ``codes()`` codes
        that wants at most ``limit`` codes."""
        if not self.walks_graph(codes):
            return FULL_SCAN, limit
        params = qm.SearchParams(
            hnsw_ef=self.ef, quantization=qm.QuantizationSearchParams(rescore=False)
        )
        return params, min(limit, self.probe)


def _kb(codes: int) -> int:
    return max(1, codes * _BYTES_PER_CODE // 1024)
