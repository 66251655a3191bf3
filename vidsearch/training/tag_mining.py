"""Tag suggestions (seed 004): triplet loss and the negative miner.

Anchor = a video's feature, positive = one of its tags, negative = a library tag mined
from the current distances (the whole library re-embedded after each round). The seed
keeps the tags farther than ``d(a,p) + delta`` and picks one at random. With its example
``delta = m`` every mined triplet already satisfies ``d(a,n) > d(a,p) + m``: zero loss when
mined, so ``delta`` is configurable (0 = the semi-hard band, which still has a gradient)
and ``zero_loss_share`` measures what a round actually learns from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

Distance = Literal["cosine", "euclidean"]


class TagMiningConfig(BaseModel):
    """Triplet margin, distance and negative mining variant for the tag networks."""

    model_config = ConfigDict(extra="forbid")

    margin: float = Field(default=0.2, ge=0)
    distance: Distance = "cosine"
    mining: Literal["seed", "semi_hard", "random"] = Field(
        default="semi_hard",
        description="seed: delta = margin (zero loss when mined); semi_hard: delta = 0; "
                    "random: any non-positive tag")
    delta: float | None = Field(
        default=None, description="overrides the variant's delta (seed / semi_hard only)")

    def resolved_delta(self) -> float:
        """The distance band above ``d(a,p)`` a negative must clear."""
        if self.delta is not None:
            return self.delta
        return self.margin if self.mining == "seed" else 0.0


def pairwise_distance(a: Tensor, b: Tensor, distance: Distance = "cosine") -> Tensor:
    """Distances between every row of a [B,D] and every row of b [K,D] -> [B,K].

    Cosine distance is ``1 - cos``, in [0, 2].
    """
    if distance == "cosine":
        return 1.0 - F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
    return torch.cdist(a, b)


def paired_distance(a: Tensor, b: Tensor, distance: Distance = "cosine") -> Tensor:
    """Distance between matching rows of a and b [B,D] -> [B]."""
    if distance == "cosine":
        return 1.0 - F.cosine_similarity(a, b, dim=-1)
    return (a - b).norm(dim=-1)


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float,
                 distance: Distance = "cosine") -> Tensor:
    """Per triplet ``max(0, d(a,p) - d(a,n) + m)`` -> [B] (the caller reduces)."""
    d_ap = paired_distance(anchor, positive, distance)
    d_an = paired_distance(anchor, negative, distance)
    return F.relu(d_ap - d_an + margin)


def listwise_loss(anchor: Tensor, library: Tensor, truth: Tensor,
                  temperature: float, similarity: Tensor | None = None) -> Tensor:
    """Every true tag against every false tag of the whole library -> [B].

    Per anchor, each positive p scores ``softplus(logsumexp_n(s_n) - s_p)`` with
    ``s = cos / temperature`` over the negatives n (the other positives do not compete),
    averaged over the positives. The triplet loss sees one negative per positive; a video
    carries tens of tags, so what decides R@5 is the order of the whole library: this term
    trains it directly (including how common a tag is, when the video says little).
    ``similarity`` [B,K] replaces the cosine (the scene-aware score, as served).
    """
    if similarity is None:
        similarity = F.normalize(anchor, dim=-1) @ F.normalize(library, dim=-1).T
    scores = similarity / temperature
    truth = truth.to(torch.bool)
    negatives = torch.logsumexp(scores.masked_fill(truth, float("-inf")), dim=1, keepdim=True)
    per_positive = F.softplus(negatives - scores) * truth
    return per_positive.sum(dim=1) / truth.sum(dim=1).clamp(min=1)


def negative_candidates(distances: Tensor, positive_distance: Tensor, positive_mask: Tensor,
                        delta: float) -> Tensor:
    """Library tags a negative may be drawn from -> bool [B,K].

    ``distances`` [B,K]: each anchor to every library tag; ``positive_distance`` [B]:
    ``d(a,p)`` of the anchor's positive; ``positive_mask`` [B,K]: the anchor's own tags.
    """
    farther = distances > (positive_distance + delta).unsqueeze(1)
    return farther & ~positive_mask.to(torch.bool)


def mine_negatives(distances: Tensor, positive_distance: Tensor, positive_mask: Tensor,
                   cfg: TagMiningConfig, generator: torch.Generator) -> Tensor:
    """One library tag index per anchor [B] (int64), -1 where no tag qualifies.

    Drawn uniformly among the candidates with ``generator``: the seed's "pick one at
    random", reproducible.
    """
    if cfg.mining == "random":
        allowed = ~positive_mask.to(torch.bool)
    else:
        allowed = negative_candidates(distances, positive_distance, positive_mask,
                                      cfg.resolved_delta())
    # Uniform noise on the candidates only; argmax picks a uniformly random candidate.
    noise = torch.rand(allowed.shape, generator=generator, device=allowed.device)
    picked = torch.where(allowed, noise, torch.full_like(noise, -1.0)).argmax(dim=1)
    return torch.where(allowed.any(dim=1), picked, torch.full_like(picked, -1))


def zero_loss_share(positive_distance: Tensor, negative_distance: Tensor,
                    margin: float) -> float:
    """Share of a round's triplets whose loss is already zero (nothing to learn from)."""
    if positive_distance.numel() == 0:
        return 0.0
    zero = (positive_distance - negative_distance + margin) <= 0
    return float(zero.to(torch.float32).mean())


@dataclass(frozen=True)
class MinedRound:
    """Triplets of one mining round, as rows into the round's videos and library."""

    anchor: Tensor  # [N] video rows that got a negative
    positive: Tensor  # [N] library index of each anchor's positive tag
    negative: Tensor  # [N] library index of the mined negative
    zero_loss_share: float  # of these triplets, at the moment they were mined
    unmatched: int  # anchors for which no library tag qualified


def mine_round(videos: Tensor, positives: Tensor, positive_mask: Tensor, library: Tensor,
               cfg: TagMiningConfig, generator: torch.Generator) -> MinedRound:
    """Mine one negative per (video, positive tag) anchor against the re-embedded library.

    ``videos`` [B,D] and ``library`` [K,D] come from the current model; ``positives`` [B]
    is each anchor's positive tag, ``positive_mask`` [B,K] all tags of that video.
    """
    with torch.no_grad():
        distances = pairwise_distance(videos, library, cfg.distance)
        rows = torch.arange(videos.shape[0], device=videos.device)
        d_ap = distances[rows, positives]
        negatives = mine_negatives(distances, d_ap, positive_mask, cfg, generator)
    found = negatives >= 0
    anchor = rows[found]
    share = zero_loss_share(d_ap[found], distances[anchor, negatives[found]], cfg.margin)
    return MinedRound(anchor=anchor, positive=positives[found], negative=negatives[found],
                      zero_loss_share=share, unmatched=int((~found).sum()))
