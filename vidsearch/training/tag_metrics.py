"""Tag suggestion metrics: how a video's ranking of a tag library matches its true tags.

Per video, the library is ranked by distance (nearest first). A video carries many tags
(tens of the vocabulary), so recall is normalised by what five suggestions can hold:

- ``hit1``: the first suggestion is a true tag;
- ``r5``: true tags among the first five / min(5, true tags);
- ``p5``: true tags among the first five / 5;
- ``map``: average precision of the whole ranking, averaged over videos.

Videos without a true tag in the library are left out (nothing to find).
"""

from __future__ import annotations

import torch
from torch import Tensor


def ranking_metrics(distances: Tensor, truth: Tensor) -> dict[str, float]:
    """``distances`` [V,K] video to library tag, ``truth`` bool [V,K] -> the four metrics."""
    keep = truth.any(dim=1)
    distances, truth = distances[keep], truth[keep].to(torch.bool)
    if truth.shape[0] == 0:
        return {"hit1": 0.0, "r5": 0.0, "p5": 0.0, "map": 0.0, "videos": 0}
    order = distances.argsort(dim=1, stable=True)
    hits = truth.gather(1, order).float()  # [V,K] in ranked order
    n_true = hits.sum(dim=1)
    top5 = hits[:, :5].sum(dim=1)
    precision = hits.cumsum(dim=1) / torch.arange(1, hits.shape[1] + 1)
    ap = (precision * hits).sum(dim=1) / n_true
    return {"hit1": float(hits[:, 0].mean()),
            "r5": float((top5 / n_true.clamp(max=min(5, hits.shape[1]))).mean()),
            "p5": float((top5 / min(5, hits.shape[1])).mean()),
            "map": float(ap.mean()),
            "videos": int(truth.shape[0])}


def top_k_share(distances: Tensor, columns: Tensor, k: int = 5) -> float:
    """Share of videos whose first ``k`` suggestions include one of ``columns`` (bool [K])."""
    top = distances.topk(min(k, distances.shape[1]), dim=1, largest=False).indices
    return float(columns.to(torch.bool)[top].any(dim=1).float().mean())
