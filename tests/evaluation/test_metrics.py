"""Quality metrics against hand-computed values."""

from __future__ import annotations

import pytest

from vidsearch.evaluation.metrics import (
    micro_average_precision,
    recall_at_k,
    segment_iou,
    temporal_iou,
    top_k_overlap,
)


def test_micro_ap_pools_queries_and_counts_missed_pairs() -> None:
    truth = {("q1", "a"), ("q2", "b"), ("q3", "c")}
    predictions = [
        ("q1", "a", 0.9),  # rank 1: correct -> precision 1/1
        ("q4", "x", 0.8),  # rank 2: a confident false match on a negative query
        ("q2", "b", 0.7),  # rank 3: correct -> precision 2/3
        ("q2", "z", 0.1),  # rank 4: wrong
    ]
    # q3's pair is never predicted: it only enlarges the denominator.
    assert micro_average_precision(predictions, truth) == pytest.approx((1 + 2 / 3) / 3)


def test_micro_ap_keeps_the_best_score_of_a_repeated_pair() -> None:
    truth = {("q", "a")}
    preds = [("q", "b", 0.5), ("q", "a", 0.1), ("q", "a", 0.9)]
    assert micro_average_precision(preds, truth) == pytest.approx(1.0)


def test_recall_at_k_counts_only_queries_with_a_match() -> None:
    truth = {("q1", "a"), ("q2", "b")}
    ranked = {"q1": ["a", "x"], "q2": ["x", "y", "b"], "neg": ["a"]}
    assert recall_at_k(ranked, truth, 1) == pytest.approx(0.5)
    assert recall_at_k(ranked, truth, 3) == pytest.approx(1.0)


def test_temporal_and_segment_iou() -> None:
    assert temporal_iou((0.0, 10.0), (5.0, 15.0)) == pytest.approx(5 / 15)
    assert temporal_iou((0.0, 1.0), (2.0, 3.0)) == 0.0
    assert segment_iou((0, 10), (20, 30), (0, 10), (25, 35)) == pytest.approx(0.5 * (1 + 5 / 15))


def test_top_k_overlap() -> None:
    assert top_k_overlap(["a", "b", "c"], ["c", "a", "z"], 2) == pytest.approx(0.5)
