"""Held-out copy-detection metrics logged by the near-duplicate (hash + texture) trainers.

References are the clean 1-fps frames (and whole videos) of held-out synthetic videos;
queries are heavily augmented copies. Reported per epoch:
- ``frame_texture_r1`` / ``frame_hash_r1``: nearest reference (Euclidean on texture /
  Hamming on codes) comes from the query's video;
- ``hash_keeps_texture_top10``: share of each query's texture top-10 references found in
  its Hamming top-100 (the coarse filter must not lose what the rerank would return;
  ties broken by index, so this is a lower bound);
- ``pos_hamming`` / ``neg_hamming``: mean Hamming distance to the source frame / to others;
- ``video_texture_r1`` / ``video_hash_r1``: whole-video mode (mean of frame features).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vidsearch.networks.video_hash import VideoHashModel
from vidsearch.training.augment import AugmentConfig, augment_clips, augment_frames
from vidsearch.training.data import Corpus, to_float


@dataclass
class EvalSet:
    refs: Tensor  # uint8 [R,S,S,3] clean 1-fps frames
    ref_video: Tensor  # [R]
    queries: Tensor  # float [Q,3,S,S] augmented copies
    query_video: Tensor  # [Q]
    query_ref: Tensor  # [Q] index of the source reference frame
    video_refs: Tensor  # uint8 [V,T,S,S,3]
    video_queries: list[Tensor]  # float [T_i,3,S,S] per video (augmented, partial)


def build_eval_set(val: Corpus, n_queries: int, aug: AugmentConfig, seed: int = 1234) -> EvalSet:
    """Deterministic queries (fixed generator), so epochs are comparable."""
    gen = torch.Generator().manual_seed(seed)
    sampled = val.sampled()
    v, t = sampled.shape[:2]
    refs = sampled.reshape(v * t, *sampled.shape[2:])
    ref_video = torch.arange(v).repeat_interleave(t)
    qv = torch.randint(v, (n_queries,), generator=gen)
    qt = torch.randint(t, (n_queries,), generator=gen)
    jitter = torch.randint(-1, 2, (n_queries,), generator=gen)
    src = (qt * val.stride + jitter).clamp(0, val.frames.shape[1] - 1)
    queries = augment_frames(to_float(val.frames[qv, src]), aug, gen)
    video_queries = []
    for i in range(v):
        length = max(2, int(t * (0.6 + 0.4 * torch.rand(1, generator=gen).item())))
        start = int(torch.randint(t - length + 1, (1,), generator=gen).item())
        clip = to_float(sampled[i : i + 1, start : start + length])
        video_queries.append(augment_clips(clip, aug, gen)[0])
    return EvalSet(refs, ref_video, queries, qv, qv * t + qt, sampled, video_queries)


def hamming(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise Hamming distances between +-1 codes [A,K] and [B,K] -> [A,B]."""
    k = a.shape[1]
    return (k - a @ b.T) / 2


def _encode(model: VideoHashModel, x: Tensor, floats: bool,
            bs: int = 256) -> tuple[Tensor, Tensor, Tensor]:
    """(image feature, texture, hash bits) for uint8 NHWC or float NCHW frames."""
    feats = torch.cat([
        model.encoder.forward_float(x[i : i + bs]) if floats else model.encoder(x[i : i + bs])
        for i in range(0, len(x), bs)
    ])
    tex, _, bits = model.heads(feats)
    return feats, tex, bits


@torch.no_grad()
def evaluate_hash_model(model: VideoHashModel, es: EvalSet) -> dict[str, float]:
    was_training = model.training
    model.eval()
    ref_feat, ref_tex, ref_bits = _encode(model, es.refs, floats=False)
    _, q_tex, q_bits = _encode(model, es.queries, floats=True)
    tex_d = torch.cdist(q_tex, ref_tex)
    ham = hamming(q_bits, ref_bits)
    n_q = len(es.queries)
    k_tex, k_hash = min(10, ham.shape[1]), min(100, ham.shape[1])
    top_tex = torch.topk(tex_d, k_tex, largest=False).indices
    ham_rank = torch.argsort(ham + torch.arange(ham.shape[1]) * 1e-6, dim=1)[:, :k_hash]
    kept = (top_tex[:, :, None] == ham_rank[:, None, :]).any(-1).float().mean()
    pos = ham[torch.arange(n_q), es.query_ref]
    out = {
        "frame_texture_r1": float((es.ref_video[tex_d.argmin(1)] == es.query_video).float().mean()),
        "frame_hash_r1": float((es.ref_video[ham.argmin(1)] == es.query_video).float().mean()),
        "hash_keeps_texture_top10": float(kept),
        "pos_hamming": float(pos.mean()),
        "neg_hamming": float((ham.sum(1) - pos).mean() / (ham.shape[1] - 1)),
    }
    v, t = es.video_refs.shape[:2]
    vref = ref_feat.view(v, t, -1).mean(1)
    vq = torch.stack([model.encoder.forward_float(c).mean(0) for c in es.video_queries])
    r_tex, _, r_bits = model.heads(vref)
    q_tex2, _, q_bits2 = model.heads(vq)
    labels = torch.arange(v)
    out["video_texture_r1"] = float((torch.cdist(q_tex2, r_tex).argmin(1) == labels).float().mean())
    out["video_hash_r1"] = float((hamming(q_bits2, r_bits).argmin(1) == labels).float().mean())
    model.train(was_training)
    return out
