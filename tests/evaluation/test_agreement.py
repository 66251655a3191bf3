"""The hash/texture agreement metric and the quick check's copied-frame selection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidsearch.evaluation.agreement import ranking_agreement
from vidsearch.evaluation.quick_agreement import copied_frame_mask


def test_ranking_agreement_hand_case() -> None:
    # 4 references; texture order for the query: r0, r1, r2, r3.
    ref_texture = np.array([[0.0], [1.0], [2.0], [3.0]], dtype=np.float32)
    # codes (2 bits): Hamming to q = (1, 1) is r0 2, r1 1, r2 0, r3 0 -> hash order r2/r3, r1, r0
    ref_bits = np.array([[-1, -1], [1, -1], [1, 1], [1, 1]], dtype=np.float32)
    q_bits = np.array([[1, 1]], dtype=np.float32)
    q_texture = np.array([[0.0]], dtype=np.float32)
    a = ranking_agreement(q_bits, q_texture, ref_bits, ref_texture, k=2, k_coarse=3)
    # texture top-2 {r0, r1}; hash top-2 {r2, r3}: overlap 0; hash top-3 adds r1: kept 1/2
    assert a.top10_overlap == pytest.approx(0.0)
    assert a.texture_top10_in_hash_top100 == pytest.approx(0.5)
    texture2 = np.array([[3.0], [2.0], [0.0], [1.0]], dtype=np.float32)
    same = ranking_agreement(q_bits, q_texture, ref_bits, texture2, k=2, k_coarse=2)
    assert same.top10_overlap == pytest.approx(1.0)  # texture top-2 {r2, r3} = hash top-2


def test_copied_frame_mask_follows_the_query_segment(tmp_path: Path) -> None:
    doc = {"version": 1, "params": {}, "references": [],
           "queries": [
               {"video_id": "q0", "path": "q0.mp4", "duration_s": 5.5, "positive": True,
                "reference_id": "r0", "query_segment": [2.0, 4.0],
                "reference_segment": [0.0, 2.0], "embedded": True},
               {"video_id": "q1", "path": "q1.mp4", "duration_s": 3.0, "positive": False,
                "query_segment": None, "reference_segment": None},
               {"video_id": "q2", "path": "q2.mp4", "duration_s": 2.0, "positive": True,
                "reference_id": "r0", "query_segment": [0.0, 2.0],
                "reference_segment": [1.0, 3.0]},
           ]}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    # q0: 6 frames at 0..5 s, copies at 2 and 3 ; q1 negative, skipped ; q2: 2 frames, both
    assert copied_frame_mask(tmp_path).tolist() == [False, False, True, True, False, False,
                                                    True, True]
