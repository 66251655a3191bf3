"""Text -> video retrieval metrics on held-out captions (text-search ablations).

Every held-out caption queries the held-out gallery. Variants, same model and data:
(a) ``meanpool``: cos(mean-pooled temporal video feature, global text feature);
(b) ``stage1``: the query-independent joint embedding alone (what the index serves);
(c) ``stage2``: stage 1's top-N reranked by the text-conditioned score (fine + coarse);
(d) ``stage2_no_kw``: (c) with the keyword enhancement switched off.
Ranks beyond the stage 1 shortlist keep their stage 1 order (a reranker cannot recover
a video stage 1 missed), so (c)/(d) R@k for k > N equal stage 1's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from vidsearch.networks.text_video import TextVideoModel
    from vidsearch.training.text_video import TextSet


def rank_of_truth(scores: Tensor, truth: Tensor) -> Tensor:
    """1-based rank of the true video per query row (ties count against the truth)."""
    true = scores.gather(1, truth[:, None])
    return (scores > true).sum(dim=1) + 1


def recall_metrics(ranks: Tensor, prefix: str) -> dict[str, float]:
    r = ranks.float()
    return {f"{prefix}_r1": float((r <= 1).float().mean()),
            f"{prefix}_r5": float((r <= 5).float().mean()),
            f"{prefix}_r10": float((r <= 10).float().mean()),
            f"{prefix}_medr": float(r.median())}


def rerank(stage1: Tensor, full: Tensor, n: int) -> Tensor:
    """Top-n of stage 1 ordered by the full score, placed above everything else."""
    top = stage1.topk(min(n, stage1.shape[1]), dim=1).indices
    out = stage1 - stage1.max() - 1e3  # below every shortlisted video, stage 1 order kept
    return out.scatter(1, top, full.gather(1, top) + 1e3)


@torch.no_grad()
def score_all(model: TextVideoModel, feats: Tensor, texts: TextSet,
              keywords: bool = True, chunk: int = 16) -> dict[str, Tensor]:
    """Score matrices [captions, videos] for every variant."""
    model.eval()
    emb, local, f, _ = model.video.from_features(feats)
    stage1 = model.scorer.text.embedding(texts.text) @ emb.T
    meanpool = model.mean_pool_similarity(texts.text, f)
    fulls = []
    for i in range(0, len(texts.captions), chunk):
        tok, mask, text, kw, kwm = texts.rows(torch.arange(i, min(i + chunk,
                                                                 len(texts.captions))))
        kwm = kwm if keywords else torch.zeros_like(kwm)
        fulls.append(model.score_matrix(tok, mask, text, kw, kwm, local, f))
    return {"meanpool": meanpool, "stage1": stage1, "full": torch.cat(fulls)}


def variant_ranks(model: TextVideoModel, feats: Tensor, texts: TextSet,
                  rerank_n: int = 10) -> dict[str, Tensor]:
    """1-based rank of each caption's video under (a)-(d) and the whole-gallery score."""
    with_kw = score_all(model, feats, texts, keywords=True)
    no_kw = score_all(model, feats, texts, keywords=False)["full"]
    truth = texts.video
    return {
        "meanpool": rank_of_truth(with_kw["meanpool"], truth),
        "stage1": rank_of_truth(with_kw["stage1"], truth),
        "stage2": rank_of_truth(rerank(with_kw["stage1"], with_kw["full"], rerank_n), truth),
        "stage2_no_kw": rank_of_truth(rerank(with_kw["stage1"], no_kw, rerank_n), truth),
        "full_gallery": rank_of_truth(with_kw["full"], truth),
    }


def summarise(ranks: dict[str, Tensor], gallery: int, rerank_n: int) -> dict[str, Any]:
    """Ranks per variant -> R@1/5/10 and median rank of each (what checkpoints record)."""
    out: dict[str, Any] = {"queries": len(next(iter(ranks.values()))), "gallery": gallery,
                           "rerank_n": rerank_n}
    for variant, r in ranks.items():
        out |= recall_metrics(r, variant)
    return out


def evaluate_text_video(model: TextVideoModel, feats: Tensor, texts: TextSet,
                        rerank_n: int = 10) -> dict[str, Any]:
    """R@1/5/10 and median rank for (a)-(d), plus the full score over the whole gallery."""
    return summarise(variant_ranks(model, feats, texts, rerank_n), int(feats.shape[0]),
                     rerank_n)
