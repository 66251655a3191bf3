"""Does the hash ranking agree with the texture ranking? (the hash head's adaptive-margin claim)

Measured per query key frame against every reference key frame: the share of the
texture top-10 that the Hamming ranking keeps in its top-10 (overlap) and in its top-100
(what the coarse filter must not lose before the rerank). Hamming ties are broken at
random with a fixed seed, so no texture information leaks into the hash ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsearch.config import MediaConfig
from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend
from vidsearch.orchestrator.encoding import FrameDecoder, VideoEncoder


@dataclass(frozen=True)
class Agreement:
    top10_overlap: float
    texture_top10_in_hash_top100: float
    query_frames: int
    reference_frames: int


def encode_keyframes(repository: Path, paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Key-frame codes and textures of every video, stacked."""
    backend = OnnxRuntimeBackend(repository)
    try:
        encoder = VideoEncoder(backend)
        decoder = FrameDecoder(MediaConfig(), encoder.frame_size())
        bits, textures = [], []
        for path in paths:
            encoded = encoder(decoder(path))
            bits.append(encoded.keyframe_bits)
            textures.append(encoded.keyframe_texture)
        return np.concatenate(bits), np.concatenate(textures)
    finally:
        backend.close()


def ranking_agreement(
    query_bits: np.ndarray,
    query_texture: np.ndarray,
    ref_bits: np.ndarray,
    ref_texture: np.ndarray,
    *,
    k: int = 10,
    k_coarse: int = 100,
    seed: int = 0,
) -> Agreement:
    rng = np.random.default_rng(seed)
    overlap, kept = [], []
    for qb, qt in zip(query_bits, query_texture, strict=True):
        hamming = (ref_bits.shape[1] - ref_bits @ qb) / 2.0
        texture = np.linalg.norm(ref_texture - qt, axis=1)
        tie_break = rng.random(len(hamming))
        hash_order = np.lexsort((tie_break, hamming))
        texture_top = set(np.argsort(texture, kind="stable")[:k].tolist())
        overlap.append(len(texture_top & set(hash_order[:k].tolist())) / k)
        kept.append(len(texture_top & set(hash_order[:k_coarse].tolist())) / k)
    return Agreement(
        top10_overlap=float(np.mean(overlap)),
        texture_top10_in_hash_top100=float(np.mean(kept)),
        query_frames=len(query_bits),
        reference_frames=len(ref_bits),
    )
