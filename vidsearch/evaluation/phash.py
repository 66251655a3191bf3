"""The training-free baseline: a 64-bit DCT perceptual hash per sampled frame.

Per frame: grey, 32x32, 2-D DCT, the 8x8 lowest frequencies, one bit per coefficient =
above the median of those 64 (the DC term is left out of the median, as in the classic
pHash, since it only says how bright the frame is). Matching is frame-level Hamming,
aggregated per reference with the same offset voting as the learned path.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dctn

from vidsearch.orchestrator.matching import FrameMatch, align

PHASH_BITS = 64
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _grey32(frames: np.ndarray) -> np.ndarray:
    grey = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    _, h, w = grey.shape
    ys = (np.arange(32) * h // 32)[:, None]
    xs = (np.arange(32) * w // 32)[None, :]
    return grey[:, ys, xs]  # nearest-neighbour is enough: the DCT keeps low frequencies only


def phash_frames(frames: np.ndarray) -> np.ndarray:
    """uint64 hash per frame of uint8 RGB frames [T,H,W,3]."""
    coeffs = dctn(_grey32(frames), axes=(1, 2), norm="ortho")[:, :8, :8].reshape(len(frames), 64)
    median = np.median(coeffs[:, 1:], axis=1, keepdims=True)
    bits = (coeffs > median).astype(np.uint64)
    weights = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))
    return (bits * weights).sum(axis=1, dtype=np.uint64)


def hamming64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between uint64 codes: [len(a), len(b)]."""
    xor = np.bitwise_xor(a[:, None], b[None, :])
    return _POPCOUNT[xor.view(np.uint8).reshape(*xor.shape, 8)].sum(axis=-1, dtype=np.int32)


class PerceptualHashIndex:
    """Reference frames' hashes in one array, searched by brute-force Hamming."""

    def __init__(self) -> None:
        self._codes: list[np.ndarray] = []
        self._times: list[np.ndarray] = []
        self._owner: list[np.ndarray] = []
        self._ids: list[str] = []
        self._durations: list[float] = []

    def add(self, video_id: str, codes: np.ndarray, times: np.ndarray) -> None:
        self._owner.append(np.full(len(codes), len(self._ids)))
        self._ids.append(video_id)
        self._codes.append(codes)
        self._times.append(times)
        self._durations.append(float(times[-1] + 1.0) if len(times) else 0.0)

    def search(
        self,
        codes: np.ndarray,
        times: np.ndarray,
        *,
        max_hamming: int = 10,
        top_k: int = 10,
        step_s: float = 1.0,
    ) -> list[tuple[str, float, tuple[float, float], tuple[float, float]]]:
        """References ranked by repetition degree x similarity, with the matched segment."""
        ref_codes = np.concatenate(self._codes)
        ref_times = np.concatenate(self._times)
        owner = np.concatenate(self._owner)
        distances = hamming64(codes, ref_codes)
        matches: dict[int, list[FrameMatch]] = {}
        for qi, row in enumerate(distances):
            for ri in np.flatnonzero(row <= max_hamming):
                matches.setdefault(int(owner[ri]), []).append(
                    FrameMatch(float(times[qi]), float(ref_times[ri]), int(row[ri]), 0.0)
                )
        query_s = float(times[-1] + step_s) if len(times) else 0.0
        ranked = []
        for video, found in matches.items():
            aligned = align(self._ids[video], found, frame_step_s=step_s)
            shorter = max(min(query_s, self._durations[video]), 1e-6)
            repetition = min(1.0, aligned.matched_seconds / shorter)
            similarity = float(np.mean([1 - m.hamming / PHASH_BITS for m in aligned.matches]))
            segment = max(aligned.segments, key=lambda s: s.query_end_s - s.query_start_s)
            ranked.append(
                (
                    self._ids[video],
                    repetition * similarity,
                    (segment.query_start_s, segment.query_end_s),
                    (segment.reference_start_s, segment.reference_end_s),
                )
            )
        ranked.sort(key=lambda r: -r[1])
        return ranked[:top_k]
