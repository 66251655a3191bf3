"""Segment alignment and repetition degree on hand-made key-frame hits."""

from __future__ import annotations

import pytest

from vidsearch.catalog.base import KeyFrameHit
from vidsearch.orchestrator.matching import align, group_hits, repetition_degree


def _hit(video: str, t: float, hamming: int = 0, texture: float = 0.1) -> KeyFrameHit:
    return KeyFrameHit(video_id=video, time_s=t, hamming=hamming, texture_distance=texture)


def test_copied_segment_is_found_at_its_offset() -> None:
    # Query seconds 2..6 copy reference seconds 10..14; one spurious hit at another offset.
    query_times = [float(t) for t in range(8)]
    hits = [[] for _ in query_times]
    for q in range(2, 7):
        hits[q].append(_hit("ref", 8.0 + q, hamming=3))
    hits[0].append(_hit("ref", 30.0, hamming=20))
    grouped = group_hits(query_times, hits)
    match = align("ref", grouped["ref"], frame_step_s=1.0)
    assert [m.query_time_s for m in match.matches] == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert len(match.segments) == 1
    seg = match.segments[0]
    assert (seg.query_start_s, seg.query_end_s) == (2.0, 7.0)
    assert (seg.reference_start_s, seg.reference_end_s) == (10.0, 15.0)
    assert match.matched_seconds == 5.0
    assert match.similarity == pytest.approx(1 - 3 / 128)


def test_gap_splits_segments_and_nearest_code_wins_per_second() -> None:
    query_times = [0.0, 1.0, 2.0, 10.0, 11.0]
    hits = [
        [_hit("a", 5.0, 4), _hit("a", 5.5, 1)],
        [_hit("a", 6.0, 2)],
        [_hit("a", 7.0, 2)],
        [_hit("a", 15.0, 2)],
        [_hit("a", 16.0, 2)],
    ]
    match = align("a", group_hits(query_times, hits)["a"], frame_step_s=1.0)
    assert len(match.segments) == 2
    assert match.matches[0].hamming == 1  # the nearer of two hits at query second 0
    assert match.segments[1].query_start_s == 10.0


def test_group_hits_filters_by_candidates_and_texture() -> None:
    hits = [[_hit("a", 0.0, texture=0.1), _hit("b", 0.0, texture=0.1), _hit("a", 1.0, texture=2.0)]]
    grouped = group_hits([0.0], hits, keep={"a"}, max_texture_distance=1.0)
    assert set(grouped) == {"a"}
    assert len(grouped["a"]) == 1


def test_repetition_degree_uses_the_shorter_video() -> None:
    assert repetition_degree(5.0, query_s=10.0, reference_s=40.0) == pytest.approx(0.5)
    assert repetition_degree(5.0, query_s=40.0, reference_s=5.0) == pytest.approx(1.0)
    assert repetition_degree(50.0, query_s=10.0, reference_s=10.0) == 1.0
