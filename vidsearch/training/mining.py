"""Near-duplicate triplet mining (S2011-S2018).

For each similar pair (sample c, positive p) of a similar-sample set: embed every other
sample, sort them by texture distance to c from near to far, drop the first k% (so
similar to c that they are noise, likely unlabelled duplicates), and take the next m as
negatives; the far tail is dropped as too easy. Table 1 of the seed: distances 0.5,
0.55, 0.8, 0.83, 0.9, 1.2, 1.5 with k=30%, m=3 keep the 3rd-5th (videos 7, 4, 5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def n_dropped(n_candidates: int, k_percent: float) -> int:
    """How many of the nearest candidates the first k% is: floor(n * k / 100)."""
    if not 0.0 <= k_percent < 100.0:
        raise ValueError(f"k_percent must be in [0, 100), got {k_percent}")
    return math.floor(n_candidates * k_percent / 100.0 + 1e-9)


def select_negatives(distances: Tensor | Sequence[float], k_percent: float, m: int) -> list[int]:
    """Indices (into ``distances``) of the negatives: sort near->far, skip k%, take m."""
    d = torch.as_tensor(distances, dtype=torch.float64)
    order = torch.argsort(d, stable=True)
    start = n_dropped(len(d), k_percent)
    return [int(i) for i in order[start:start + m]]


def mine_triplets(
    texture: Tensor,
    pairs: Tensor,
    k_percent: float,
    m: int,
    groups: Tensor | None = None,
) -> Tensor:
    """Mine (anchor, positive, negative) index triplets from one similar-sample set.

    texture: [S, D] texture features of every sample of the set (S2012; any grad is
    ignored). pairs: [P, 2] long, (c, p) row indices into ``texture``. groups: optional
    [S] source id (e.g. the video a frame came from); candidates sharing c's group are
    excluded up front, a stronger version of the k% rule when the source is known.
    Returns [T, 3] long, at most m triplets per pair (fewer when candidates run out).
    """
    n_dropped(0, k_percent)  # validates k
    feats = texture.detach().float()
    s = feats.shape[0]
    c_idx, p_idx = pairs[:, 0], pairs[:, 1]
    rows = torch.arange(len(pairs))
    valid = torch.ones((len(pairs), s), dtype=torch.bool)
    valid[rows, c_idx] = False
    valid[rows, p_idx] = False
    if groups is not None:
        valid &= groups[None, :] != groups[c_idx][:, None]
    dist = torch.cdist(feats[c_idx], feats)  # S2014: Euclidean texture distance to each c
    dist = dist.masked_fill(~valid, math.inf)
    order = torch.argsort(dist, dim=1, stable=True)  # S2015: near -> far, invalid last
    n_cand = valid.sum(dim=1)
    start = torch.floor(n_cand.double() * k_percent / 100.0 + 1e-9).long()  # S2016: skip k%
    pos = start[:, None] + torch.arange(m)[None, :]
    ok = pos < n_cand[:, None]
    neg = torch.gather(order, 1, pos.clamp(max=s - 1))
    anchor = c_idx[:, None].expand_as(neg)
    positive = p_idx[:, None].expand_as(neg)
    return torch.stack([anchor[ok], positive[ok], neg[ok]], dim=1)
