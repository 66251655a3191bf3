"""Copy localisation on a frame-to-frame similarity matrix, and background score normalisation.

Pure numpy, no I/O: the search stages build the matrix (query key frames x one candidate's
key frames, cosine of the unit copy descriptors), normalise it, and align it here by Hough
voting over time offsets and speeds. Why these choices, and what they measured:
``docs/design.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

# Reference seconds per query second. 1.0 first: on a tie the unchanged speed wins.
DEFAULT_SLOPES: tuple[float, ...] = (1.0, 0.5, 2.0 / 3.0, 0.8, 1.25, 1.5, 2.0)


@dataclass(frozen=True)
class AlignedSegment:
    """One straight run of matched key frames: where, how fast, how strong."""

    query_start_s: float
    query_end_s: float
    reference_start_s: float
    reference_end_s: float
    score: float  # sum over its frames of (similarity - min_similarity)
    slope: float  # reference seconds per query second (1.0: same speed)
    frames: int  # matched query key frames
    # The matched cells: query key-frame rows and, for each, its reference column.
    rows: tuple[int, ...] = field(default=(), repr=False)
    cols: tuple[int, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Alignment:
    """Every segment found between one query and one reference, and one video score."""

    segments: tuple[AlignedSegment, ...]
    score: float  # the best segment's score; 0.0 when nothing matched
    total: float = 0.0  # sum of the segments' scores

    @property
    def matched_query_s(self) -> float:
        """Query seconds covered by the segments (for the repetition degree)."""
        return float(sum(s.query_end_s - s.query_start_s for s in self.segments))


NO_MATCH = Alignment((), 0.0)


def normalise(
    similarity: np.ndarray,
    query_bias: np.ndarray | None,
    reference_bias: np.ndarray | None = None,
    *,
    beta: float = 1.0,
) -> np.ndarray:
    """S[i, j] - beta * query_bias[i] (- beta * reference_bias[j] when given, symmetric).

    A bias is a frame's similarity to its k-th nearest background key frame; NaN (the
    background holds fewer than k frames) counts as 0, i.e. that frame is not normalised.
    """
    out = np.asarray(similarity, dtype=np.float32).copy()
    if query_bias is not None:
        out -= beta * np.nan_to_num(np.asarray(query_bias, np.float32), nan=0.0)[:, None]
    if reference_bias is not None:
        out -= beta * np.nan_to_num(np.asarray(reference_bias, np.float32), nan=0.0)[None, :]
    return out


def align_matrix(
    similarity: np.ndarray,
    query_times: Sequence[float] | np.ndarray,
    reference_times: Sequence[float] | np.ndarray,
    *,
    step_s: float = 1.0,
    slopes: Sequence[float] = DEFAULT_SLOPES,
    min_similarity: float = 0.0,
    max_gap_s: float = 3.0,
    min_frames: int = 3,
    max_segments: int = 4,
) -> Alignment:
    """Find up to ``max_segments`` straight matched runs in ``similarity`` [Tq, Tr].

    Cells above ``min_similarity`` vote, weighted by how far above, for the offset
    (reference time - slope x query time, in bins of ``step_s``) of every slope. The best
    (slope, offset) line is read off (per query frame the best cell within half a step of
    the line, more for slopes over 1), split into runs at query gaps over ``max_gap_s``,
    weak ends trimmed; runs of at least ``min_frames`` frames become segments (3 by
    default: after normalisation a chance cell above zero is rare, three on one line
    rarer still, while every copy worth reporting lasts a few seconds). Their query rows
    are then removed and the vote repeats, so a query holding two copies (of two parts
    of the reference, or at two speeds) gets two segments.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    q = np.asarray(query_times, dtype=np.float64)
    r = np.asarray(reference_times, dtype=np.float64)
    if sim.shape != (len(q), len(r)):
        raise ValueError(f"similarity {sim.shape} does not match {len(q)} x {len(r)} times")
    if sim.size == 0 or step_s <= 0:
        return NO_MATCH
    weight = np.where(np.isfinite(sim), sim - min_similarity, 0.0)
    weight = np.maximum(weight, 0.0)
    original = weight.copy()
    segments: list[AlignedSegment] = []
    for _ in range(3 * max_segments):  # a line with only too-short runs costs a round
        if len(segments) >= max_segments:
            break
        line = _best_line(weight, q, r, step_s, slopes)
        if line is None:
            break
        slope, offset = line
        found, (used_rows, used_cols) = _read_line(
            weight, q, r, slope, offset, step_s, max_gap_s, min_frames
        )
        weight[used_rows, used_cols] = 0.0  # this line has been read, runs or not
        for rows, cols in found[: max_segments - len(segments)]:
            cells = original[rows, cols]
            segments.append(
                AlignedSegment(
                    query_start_s=float(q[rows[0]]),
                    query_end_s=float(q[rows[-1]] + step_s),
                    reference_start_s=float(r[cols].min()),
                    reference_end_s=float(r[cols].max() + step_s),
                    score=float(cells.sum()),
                    slope=float(slope),
                    frames=len(rows),
                    rows=tuple(int(i) for i in rows),
                    cols=tuple(int(j) for j in cols),
                )
            )
            weight[rows[0] : rows[-1] + 1, :] = 0.0  # these query seconds are explained
    segments.sort(key=lambda s: s.query_start_s)
    best = max((s.score for s in segments), default=0.0)
    return Alignment(tuple(segments), float(best), float(sum(s.score for s in segments)))


def _best_line(
    weight: np.ndarray, q: np.ndarray, r: np.ndarray, step_s: float, slopes: Sequence[float]
) -> tuple[float, float] | None:
    """(slope, offset) with the most weight on it; offsets voted in ``step_s`` bins, each
    bin also counting half of its neighbours (a line between sample points)."""
    rows, cols = np.nonzero(weight > 0)
    if len(rows) == 0:
        return None
    w = weight[rows, cols]
    best: tuple[float, float, float] | None = None
    for slope in slopes:
        offsets = r[cols] - slope * q[rows]
        bins = np.rint(offsets / step_s).astype(np.int64)
        low = int(bins.min())
        votes = np.bincount(bins - low, weights=w).astype(np.float64)
        smooth = votes.copy()
        smooth[1:] += 0.5 * votes[:-1]
        smooth[:-1] += 0.5 * votes[1:]
        k = int(np.argmax(smooth))
        if best is None or smooth[k] > best[0] + 1e-9:
            best = (float(smooth[k]), float(slope), float((k + low) * step_s))
    assert best is not None
    return best[1], best[2]


def _read_line(
    weight: np.ndarray,
    q: np.ndarray,
    r: np.ndarray,
    slope: float,
    offset: float,
    step_s: float,
    max_gap_s: float,
    min_frames: int,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    """Runs of (query row, reference column) on the line, one best cell per row; and
    every cell read (so a line of runs too short to count is not voted for again)."""
    predicted = slope * q[:, None] + offset
    near = np.abs(r[None, :] - predicted) <= 0.5 * step_s * max(1.0, slope) + 1e-6
    on_line = np.where(near, weight, 0.0)
    cols = np.argmax(on_line, axis=1)
    matched = np.nonzero(on_line[np.arange(len(q)), cols] > 0)[0]
    runs: list[tuple[np.ndarray, np.ndarray]] = []
    start = 0
    for k in range(1, len(matched) + 1):
        if k == len(matched) or q[matched[k]] - q[matched[k - 1]] > max_gap_s:
            rows = _trim(matched[start:k], on_line[matched[start:k], cols[matched[start:k]]])
            if len(rows) >= min_frames:
                runs.append((rows, cols[rows]))
            start = k
    return runs, (matched, cols[matched])


def _trim(rows: np.ndarray, cells: np.ndarray, keep: float = 0.25) -> np.ndarray:
    """Drop weak cells off both ends of a run: a copy's edges are about as strong as its
    middle, a chance cell that happens to sit next to it is not."""
    if len(rows) == 0:
        return rows
    floor = keep * float(cells.max())
    strong = np.nonzero(cells >= floor)[0]
    return rows[strong[0] : strong[-1] + 1]


def with_motion(
    alignment: Alignment, query: np.ndarray, reference: np.ndarray, weight: float
) -> Alignment:
    """``alignment`` with each segment's score scaled by ``1 + weight x a``, where ``a`` is
    how alike the two videos *change* along it (``motion_agreement``, shrunk towards 0
    for segments over few distinct frames; the factor is floored so a score never turns
    negative).

    A frame descriptor cannot tell a copy from another stretch of the same static camera
    (same background, other passers-by): both match frame by frame. What differs is what
    moves: in a copy the two sides change alike (``a`` near 1), in another stretch they do
    not (near 0), and a video that does not change has no such evidence either way. The
    factor multiplies the appearance evidence rather than adding to it: two unrelated
    videos that happen to change at the same moments (scene cuts) have little appearance
    evidence to amplify. ``query`` [Tq, D] and ``reference`` [Tr, D] are the unit
    descriptors the similarity matrix was built from.
    """
    if weight == 0 or not alignment.segments:
        return alignment
    segments = tuple(
        replace(s, score=s.score * max(0.0, 1.0 + weight * _evidence(query, reference, s)))
        for s in alignment.segments
    )
    best = max(s.score for s in segments)
    return Alignment(segments, float(best), float(sum(s.score for s in segments)))


# Agreement over few distinct frames is weak evidence (three centred vectors agree by
# chance easily): it counts m / (m + MOTION_PRIOR_FRAMES), m = distinct reference frames - 1.
MOTION_PRIOR_FRAMES = 4


def _evidence(query: np.ndarray, reference: np.ndarray, segment: AlignedSegment) -> float:
    m = len(set(segment.cols)) - 1
    return motion_agreement(query, reference, segment) * m / (m + MOTION_PRIOR_FRAMES)


def motion_agreement(query: np.ndarray, reference: np.ndarray, segment: AlignedSegment) -> float:
    """Mean cosine over the segment's matched pairs of the descriptors' changes (each
    frame minus the mean of its side's matched frames); 0.0 for a segment without cells."""
    if not segment.rows:
        return 0.0
    rows, cols = np.asarray(segment.rows), np.asarray(segment.cols)
    q = np.asarray(query, np.float64)[rows]
    r = np.asarray(reference, np.float64)
    q = q - q.mean(axis=0)
    r = r[cols] - r[np.unique(cols)].mean(axis=0)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-9)
    r /= np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-9)
    return float(np.mean(np.sum(q * r, axis=1)))
