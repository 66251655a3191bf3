"""Key-frame matches → repetition degree and matched segments (duration and key-frame matching).

A copied segment shows up as many key-frame matches sharing one time offset
(reference time − query time). We vote for the dominant offset per reference, keep the
matches consistent with it, and merge them into runs: those runs are the segments the
client marks on its progress bar.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vidsearch.catalog.base import HASH_BITS, KeyFrameHit
from vidsearch.orchestrator.api import MatchedSegment


@dataclass(frozen=True)
class FrameMatch:
    """One query key frame matched to one reference key frame."""

    query_time_s: float
    reference_time_s: float
    hamming: int
    texture_distance: float


@dataclass(frozen=True)
class VideoMatch:
    """All evidence that a query copies one reference."""

    video_id: str
    matches: tuple[FrameMatch, ...]
    segments: tuple[MatchedSegment, ...]
    matched_seconds: float
    similarity: float  # mean per-second similarity of the aligned matches, in [0, 1]


def group_hits(
    query_times: Sequence[float],
    hits_per_frame: Sequence[Sequence[KeyFrameHit]],
    *,
    keep: Iterable[str] | None = None,
    max_texture_distance: float | None = None,
) -> dict[str, list[FrameMatch]]:
    """Turn per-query-frame hit lists into per-reference match lists."""
    allowed = set(keep) if keep is not None else None
    grouped: dict[str, list[FrameMatch]] = defaultdict(list)
    for query_time, hits in zip(query_times, hits_per_frame, strict=True):
        for hit in hits:
            if allowed is not None and hit.video_id not in allowed:
                continue
            if max_texture_distance is not None and hit.texture_distance > max_texture_distance:
                continue
            grouped[hit.video_id].append(
                FrameMatch(float(query_time), hit.time_s, hit.hamming, hit.texture_distance)
            )
    return grouped


def align(
    video_id: str,
    matches: Sequence[FrameMatch],
    *,
    frame_step_s: float,
    offset_tolerance_s: float = 2.0,
    max_gap_s: float = 3.0,
    by: Literal["hash", "texture"] = "hash",
) -> VideoMatch:
    """Keep the matches that agree on the dominant time offset and merge them into segments.

    ``by`` says which distance judges a match: Hamming on codes (key-frame matching) or the texture
    distance of unit-length embeddings, in [0, 2] (duration matching)."""
    offsets = np.array([m.reference_time_s - m.query_time_s for m in matches])
    # Vote: the offset with the most matches within the tolerance window wins.
    support = (np.abs(offsets[:, None] - offsets[None, :]) <= offset_tolerance_s).sum(axis=1)
    best = float(offsets[int(np.argmax(support))])  # an observed offset: never an empty window
    aligned = [
        m for m, o in zip(matches, offsets, strict=True) if abs(o - best) <= offset_tolerance_s
    ]
    # One match per query second: the nearest one wins.
    per_query: dict[float, FrameMatch] = {}
    for match in aligned:
        kept = per_query.get(match.query_time_s)
        if kept is None or _similarity(match, by) > _similarity(kept, by):
            per_query[match.query_time_s] = match
    ordered = sorted(per_query.values(), key=lambda m: m.query_time_s)
    segments = _merge_runs(ordered, frame_step_s=frame_step_s, max_gap_s=max_gap_s, by=by)
    similarity = float(np.mean([_similarity(m, by) for m in ordered]))
    return VideoMatch(
        video_id=video_id,
        matches=tuple(ordered),
        segments=segments,
        matched_seconds=len(ordered) * frame_step_s,
        similarity=similarity,
    )


def _similarity(match: FrameMatch, by: Literal["hash", "texture"]) -> float:
    if by == "texture":
        return max(0.0, 1.0 - match.texture_distance / 2.0)
    return 1.0 - match.hamming / HASH_BITS


def _merge_runs(
    ordered: Sequence[FrameMatch],
    *,
    frame_step_s: float,
    max_gap_s: float,
    by: Literal["hash", "texture"],
) -> tuple[MatchedSegment, ...]:
    segments: list[MatchedSegment] = []
    run: list[FrameMatch] = []

    def close_run() -> None:
        if not run:
            return
        score = float(np.mean([_similarity(m, by) for m in run]))
        segments.append(
            MatchedSegment(
                query_start_s=run[0].query_time_s,
                query_end_s=run[-1].query_time_s + frame_step_s,
                reference_start_s=min(m.reference_time_s for m in run),
                reference_end_s=max(m.reference_time_s for m in run) + frame_step_s,
                score=score,
            )
        )

    for match in ordered:
        if run and match.query_time_s - run[-1].query_time_s > max_gap_s:
            close_run()
            run = []
        run.append(match)
    close_run()
    return tuple(segments)


def repetition_degree(matched_seconds: float, query_s: float, reference_s: float) -> float:
    """Repetition degree: matched duration / duration of the shorter video, capped at 1."""
    shorter = max(min(query_s, reference_s), 1e-6)
    return float(min(1.0, matched_seconds / shorter))
