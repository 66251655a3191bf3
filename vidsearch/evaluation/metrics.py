"""Retrieval quality metrics, VSC 2022 style.

µAP pools every (query, reference, score) prediction of every query into ONE ranked list,
so a system is punished for confident false matches on queries that have no match at all
(the 40% negatives) — per-query mAP would ignore those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

Pair = tuple[str, str]
Span = tuple[float, float]


def micro_average_precision(
    predictions: Iterable[tuple[str, str, float]], ground_truth: set[Pair]
) -> float:
    """Area under the pooled precision-recall curve; recall denominator = all true pairs."""
    if not ground_truth:
        raise ValueError("ground truth is empty: µAP is undefined")
    best: dict[Pair, float] = {}
    for query, reference, score in predictions:
        pair = (query, reference)
        best[pair] = max(score, best.get(pair, float("-inf")))
    if not best:
        return 0.0
    ranked = sorted(best.items(), key=lambda item: -item[1])
    correct = np.array([pair in ground_truth for pair, _ in ranked], dtype=np.float64)
    hits = np.cumsum(correct)
    precision = hits / np.arange(1, len(ranked) + 1)
    # Each true positive adds precision-at-its-rank x (1 / |ground truth|) of recall.
    return float(np.sum(precision * correct) / len(ground_truth))


def recall_at_k(ranked: Mapping[str, Sequence[str]], ground_truth: set[Pair], k: int) -> float:
    """Share of queries with a match whose true reference is in their top k."""
    queries = sorted({q for q, _ in ground_truth})
    if not queries:
        raise ValueError("no query has a match: recall is undefined")
    found = sum(any((q, r) in ground_truth for r in list(ranked.get(q, ()))[:k]) for q in queries)
    return found / len(queries)


def temporal_iou(a: Span, b: Span) -> float:
    """Intersection over union of two time intervals."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def segment_iou(pred_query: Span, pred_ref: Span, true_query: Span, true_ref: Span) -> float:
    """Mean of the query-side and reference-side IoU of a localised match."""
    return 0.5 * (temporal_iou(pred_query, true_query) + temporal_iou(pred_ref, true_ref))


def top_k_overlap(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """Share of ``a``'s top k that also appears in ``b``'s top k."""
    return len(set(a[:k]) & set(b[:k])) / k
