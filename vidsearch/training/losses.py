"""Loss functions, one per formula of the near-duplicate patent (Formulas 1-8) plus Barlow Twins.

Per-triplet functions return a vector [T] with ``reduction="none"`` because Formula 3
(adaptive margins) and Formula 8 (texture-loss weighting) need the per-triplet values;
the default ``"mean"`` averages over triplets. Distances are Euclidean (not squared),
as the formulas write ||x_a - x_p||.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Reduction = Literal["none", "mean", "sum"]


def _reduce(x: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "none":
        return x
    return x.mean() if reduction == "mean" else x.sum()


def _dist(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise Euclidean distance with a safe gradient at 0 (identical rows)."""
    return torch.sqrt(((a - b) ** 2).sum(dim=-1) + 1e-12)


def formula1_texture_triplet(xa: Tensor, xp: Tensor, xn: Tensor, margin_em: float,
                             reduction: Reduction = "mean") -> Tensor:
    """Formula 1: L_em = max(||xa - xp|| - ||xa - xn|| + margin_em, 0) (stage 1)."""
    return _reduce(torch.clamp(_dist(xa, xp) - _dist(xa, xn) + margin_em, min=0.0), reduction)


def formula2_texture_triplet(xa: Tensor, xp: Tensor, xn: Tensor, margin_em: float,
                             reduction: Reduction = "mean") -> Tensor:
    """Formula 2: L_em' — Formula 1's form on the stage-2 texture features x'."""
    return formula1_texture_triplet(xa, xp, xn, margin_em, reduction)


def formula3_adaptive_margin(l_em: Tensor, margin0: float, m_em: float) -> Tensor:
    """Formula 3: margin_i = margin0 * L_em,i / M_em, per triplet.

    margin0 is the preset Hamming-scale margin, M_em the texture/Hamming distance ratio.
    Detached: the margin is a control parameter, not something to train through.
    """
    return margin0 * l_em.detach() / m_em


def formula4_quant_triplet(qa: Tensor, qp: Tensor, qn: Tensor, margin: Tensor | float,
                           reduction: Reduction = "mean") -> Tensor:
    """Formula 4: L_triplet = max(||xa_q - xp_q|| - ||xa_q - xn_q|| + margin_i, 0).

    ``margin`` is a scalar (Formula 8 / fixed margin) or one value per triplet (Formula 3).
    """
    return _reduce(torch.clamp(_dist(qa, qp) - _dist(qa, qn) + margin, min=0.0), reduction)


def formula5_sgn(u: Tensor) -> Tensor:
    """Formula 5: b_i = -1 if u_i < 0 else +1 (so sgn(0) = +1)."""
    return torch.where(u < 0, -torch.ones_like(u), torch.ones_like(u))


def formula6_coding_loss(u: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Formula 6: L_coding = sum_i (b_i - u_i)^2 over the bits of each sample.

    b = sgn(u) is a constant target (no gradient through the sign); the reduction is
    over samples.
    """
    per_sample = ((formula5_sgn(u).detach() - u) ** 2).sum(dim=-1)
    return _reduce(per_sample, reduction)


def formula7_quant_loss(l_triplet: Tensor, l_coding: Tensor, w21: float, w22: float) -> Tensor:
    """Formula 7: L_q = w21 * L_triplet + w22 * L_coding."""
    return w21 * l_triplet + w22 * l_coding


def formula8_margin(margin_em: float, margin0: float, m_em: float) -> float:
    """Formula 8's margin_i = margin_em, restated in code units: margin0 * margin_em / M_em.

    The seed sets Formula 4's margin to margin_em, a texture distance (0.4 on the unit
    sphere); Formula 4 compares code distances (2*sqrt(Hamming), ~16 between unrelated
    128-bit codes), where 0.4 is no margin at all. Formula 3 already fixes the map from
    texture units to code units (a texture loss of M_em <-> margin0), so the margin_em of
    Formula 8 goes through the same map: it is the Formula 3 margin of a triplet whose
    texture loss equals margin_em.
    """
    return margin0 * margin_em / m_em


def formula8_quant_loss(l_em_prime: Tensor, l_triplet: Tensor, l_coding: Tensor, w21: float,
                        w22: float, m_em: float = 1.0) -> Tensor:
    """Formula 8: L_q = w21 * (L_em' * L_triplet) + w22 * L_coding.

    ``l_em_prime`` and ``l_triplet`` are per-triplet vectors (margin_i = margin_em in
    Formula 4, see ``formula8_margin``); the product is taken per triplet and averaged,
    so each quantization triplet is weighted by how badly its texture triplet is still
    ranked. L_em' is a weight here (detached); the texture head is trained by Formula 2
    alone. It is a texture-unit quantity, so it is divided by ``m_em`` (Formula 3's
    texture scale) to make it a unit-free weight: otherwise w21 silently shrinks by the
    texture loss scale (~0.25) and the coding loss outweighs the ranking term.
    """
    weighted = (l_em_prime.detach() / m_em * l_triplet).mean()
    return w21 * weighted + w22 * l_coding


def rank_distill_loss(u: Tensor, texture: Tensor) -> Tensor:
    """Ours (off by default): code similarity should copy texture similarity.

    The seed's claim is that the quantization ranking agrees with the texture ranking, but
    Formulas 4-8 only look at mined (a, p, n) triplets: the order of everything else is
    left to chance. This regresses, over every pair i != j of the similar-sample set, the
    cosine of the relaxed codes u onto the cosine of the (detached) unit texture
    features. For +-1 codes Hamming = K * (1 - cos) / 2, so matching cosines makes the
    Hamming ranking follow the texture ranking. Mean of (cos_u - cos_t)^2.
    """
    n = u.shape[0]
    if n < 2:
        raise ValueError("rank distillation needs at least 2 samples")
    un = torch.nn.functional.normalize(u, dim=-1)
    tn = torch.nn.functional.normalize(texture.detach(), dim=-1)
    off = ~torch.eye(n, dtype=torch.bool, device=u.device)
    return ((un @ un.T - tn @ tn.T)[off] ** 2).mean()


def barlow_twins_loss(z1: Tensor, z2: Tensor, lambd: float = 0.001, eps: float = 1e-5) -> Tensor:
    """Barlow Twins: L = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2.

    z1, z2 [N, D] are batch-normalised per dimension (mean 0, biased variance 1, as
    BatchNorm1d(affine=False)); C = z1n^T z2n / N is their cross-correlation matrix.
    """
    n = z1.shape[0]
    if n < 2:
        raise ValueError("Barlow Twins needs a batch of at least 2")

    def _bn(z: Tensor) -> Tensor:
        z = z - z.mean(dim=0)
        return z / torch.sqrt(z.pow(2).mean(dim=0) + eps)

    c = _bn(z1.float()).T @ _bn(z2.float()) / n
    diag = torch.diagonal(c)
    on = (1.0 - diag).pow(2).sum()
    off = c.pow(2).sum() - diag.pow(2).sum()
    return on + lambd * off


def info_nce_loss(z: Tensor, pairs: Tensor, temperature: float = 0.05) -> Tensor:
    """SSCD/SimCLR InfoNCE over a batch of unit descriptors ``z`` [N,D].

    ``pairs`` [P,2] lists (anchor, positive) rows; every other row of the batch is a
    negative of the anchor (its own row excluded). Mean cross-entropy over the anchors.
    """
    logits = z[pairs[:, 0]] @ z.T / temperature
    logits[torch.arange(len(pairs)), pairs[:, 0]] = float("-inf")  # not its own negative
    return torch.nn.functional.cross_entropy(logits, pairs[:, 1])


def koleo_loss(z: Tensor, groups: Tensor | None = None, eps: float = 1e-8) -> Tensor:
    """KoLeo entropy regulariser (SSCD): -mean log distance to the nearest other row.

    It spreads descriptors over the sphere, so unrelated frames stay far apart and a
    similarity threshold means the same thing everywhere. Rows of the same ``groups``
    value (a frame and its copy) are not each other's neighbours here: pushing a copy away
    from its original would fight the InfoNCE term (SSCD excludes positives likewise).
    """
    with torch.no_grad():
        sim = z @ z.T
        sim.fill_diagonal_(-2.0)
        if groups is not None:
            sim[groups[:, None] == groups[None, :]] = -2.0
        nearest = sim.argmax(dim=1)
    dist = torch.linalg.vector_norm(z - z[nearest], dim=1)
    return -torch.log(dist + eps).mean()
