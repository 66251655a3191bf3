"""Tag triplet loss and the negative miner, on a hand-made distance table."""

from __future__ import annotations

import pytest
import torch

from vidsearch.training.tag_mining import (
    TagMiningConfig,
    listwise_loss,
    mine_negatives,
    mine_round,
    negative_candidates,
    paired_distance,
    pairwise_distance,
    triplet_loss,
    zero_loss_share,
)

# Two videos (anchors) against a library of five tags. Video 0's positive is tag 0
# (d = 0.2), video 1's positive is tag 3 (d = 0.5); video 1 also owns tag 4.
DIST = torch.tensor([[0.2, 0.3, 0.45, 0.9, 0.41],
                     [0.6, 0.55, 0.8, 0.5, 1.5]])
D_AP = torch.tensor([0.2, 0.5])
POSITIVE = torch.tensor([[True, False, False, False, False],
                         [False, False, False, True, True]])


def _set(row: torch.Tensor) -> set[int]:
    return {int(i) for i in row.nonzero().flatten()}


def test_candidates_exact() -> None:
    semi = negative_candidates(DIST, D_AP, POSITIVE, delta=0.0)
    assert [_set(r) for r in semi] == [{1, 2, 3, 4}, {0, 1, 2}]
    seed = negative_candidates(DIST, D_AP, POSITIVE, delta=0.2)
    assert [_set(r) for r in seed] == [{2, 3, 4}, {2}]  # > 0.4 and > 0.7; 4 is a positive
    assert [_set(r) for r in negative_candidates(DIST, D_AP, POSITIVE, delta=1.0)] == [set(), set()]


def test_mined_negative_is_a_candidate_uniformly() -> None:
    cfg = TagMiningConfig(margin=0.2, mining="semi_hard")
    counts = torch.zeros(2, 5)
    for seed in range(400):
        picked = mine_negatives(DIST, D_AP, POSITIVE, cfg, torch.Generator().manual_seed(seed))
        counts[0, picked[0]] += 1
        counts[1, picked[1]] += 1
    assert _set(counts[0]) == {1, 2, 3, 4} and _set(counts[1]) == {0, 1, 2}
    assert counts[0, 1:].min() > 60 and counts[1, :3].min() > 90  # ~100 and ~133 each
    g = torch.Generator().manual_seed(3)
    again = torch.Generator().manual_seed(3)
    assert torch.equal(mine_negatives(DIST, D_AP, POSITIVE, cfg, g),
                       mine_negatives(DIST, D_AP, POSITIVE, cfg, again))


def test_no_candidate_gives_minus_one() -> None:
    cfg = TagMiningConfig(margin=0.2, mining="seed", delta=1.0)
    got = mine_negatives(DIST, D_AP, POSITIVE, cfg, torch.Generator().manual_seed(0))
    assert got.tolist() == [-1, -1]


def test_random_variant_ignores_distance_but_not_positives() -> None:
    cfg = TagMiningConfig(mining="random")
    seen: set[int] = set()
    for seed in range(200):
        picked = mine_negatives(DIST, D_AP, POSITIVE, cfg, torch.Generator().manual_seed(seed))
        seen.add(int(picked[1]))
    assert seen == {0, 1, 2}  # tag 3 and 4 are video 1's positives


def test_delta_variants() -> None:
    assert TagMiningConfig(margin=0.3, mining="seed").resolved_delta() == 0.3
    assert TagMiningConfig(margin=0.3, mining="semi_hard").resolved_delta() == 0.0
    assert TagMiningConfig(margin=0.3, mining="semi_hard", delta=0.1).resolved_delta() == 0.1


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_delta_equal_margin_mines_only_zero_loss_triplets(distance: str) -> None:
    g = torch.Generator().manual_seed(0)
    videos, tags = torch.randn(64, 8, generator=g), torch.randn(40, 8, generator=g)
    positives = torch.randint(0, 40, (64,), generator=g)
    mask = torch.nn.functional.one_hot(positives, 40).bool()
    seed = TagMiningConfig.model_validate({"margin": 0.1, "mining": "seed",
                                           "distance": distance})
    mined = mine_round(videos, positives, mask, tags, seed, g)
    assert len(mined.anchor) > 10 and len(mined.anchor) + mined.unmatched == 64
    assert torch.equal(mined.positive, positives[mined.anchor])
    loss = triplet_loss(videos[mined.anchor], tags[mined.positive], tags[mined.negative],
                        seed.margin, seed.distance)
    assert torch.all(loss == 0) and mined.zero_loss_share == 1.0
    # The semi-hard band (delta = 0) keeps triplets that still have a loss.
    semi = TagMiningConfig.model_validate({"margin": 0.1, "distance": distance})
    mined = mine_round(videos, positives, mask, tags, semi, g)
    loss = triplet_loss(videos[mined.anchor], tags[mined.positive], tags[mined.negative],
                        semi.margin, semi.distance)
    assert 0.0 < mined.zero_loss_share < 1.0
    assert mined.zero_loss_share == pytest.approx(float((loss == 0).float().mean()), abs=0.02)


def test_triplet_loss_values() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    n = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    # cosine: d(a,p) = 0 / 1, d(a,n) = 1 / 0.
    torch.testing.assert_close(triplet_loss(a, p, n, 0.2), torch.tensor([0.0, 1.2]))
    # euclidean: d(a,p) = 0 / sqrt 2, d(a,n) = sqrt 2 / 0.
    r2 = 2 ** 0.5
    torch.testing.assert_close(triplet_loss(a, p, n, 0.2, "euclidean"),
                               torch.tensor([0.0, r2 + 0.2]))
    for distance in ("cosine", "euclidean"):
        torch.testing.assert_close(pairwise_distance(a, p, distance).diagonal(),
                                   paired_distance(a, p, distance))


def test_zero_loss_share() -> None:
    assert zero_loss_share(torch.tensor([0.1, 0.5, 0.2]), torch.tensor([0.4, 0.5, 0.3]),
                           0.2) == pytest.approx(1 / 3)
    assert zero_loss_share(torch.zeros(0), torch.zeros(0), 0.2) == 0.0


def test_listwise_loss_values() -> None:
    # cos to the three library tags: 1, 0, -1; at temperature 0.5 the scores are 2, 0, -2.
    library = torch.tensor([[1.0, 0.0], [0.0, 3.0], [-2.0, 0.0]])
    anchor = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    truth = torch.tensor([[True, True, False],  # positives 2 and 0 against the negative -2
                          [False, False, True],  # its positive -2 against 2 and 0
                          [False, False, False]])  # nothing true: nothing to learn
    math = torch.log1p(torch.exp(torch.tensor([-4.0, -2.0])))
    worst = torch.logsumexp(torch.tensor([2.0, 0.0]), dim=0) + 2.0
    expected = torch.stack([math.mean(), torch.nn.functional.softplus(worst),
                            torch.tensor(0.0)])
    torch.testing.assert_close(listwise_loss(anchor, library, truth, 0.5), expected)
    # A given similarity (the scene-aware score) replaces the cosine: the same numbers again
    cos = torch.tensor([[1.0, 0.0, -1.0]]).expand(3, 3)
    torch.testing.assert_close(listwise_loss(anchor, library, truth, 0.5, cos), expected)
    flipped = listwise_loss(anchor, library, truth, 0.5, -cos)
    assert flipped[0] > expected[0] and flipped[1] < expected[1]
