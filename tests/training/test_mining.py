"""Seed 001 miner on the seed's Table 1 example."""

from __future__ import annotations

import pytest
import torch

from vidsearch.training.mining import mine_triplets, n_dropped, select_negatives

# Table 1: texture distances of the other sample videos to sample video 1
TABLE1 = {3: 0.5, 6: 0.55, 7: 0.8, 4: 0.83, 5: 0.9, 8: 1.2, 9: 1.5}


def test_table1_select_negatives() -> None:
    names = list(TABLE1)
    picked = select_negatives(list(TABLE1.values()), k_percent=30.0, m=3)
    # first k% (3 and 6) dropped as noise, 7/4/5 kept, 8 and 9 (the far tail) dropped
    assert [names[i] for i in picked] == [7, 4, 5]


def test_table1_in_any_input_order() -> None:
    names = [9, 4, 3, 8, 7, 5, 6]
    picked = select_negatives([TABLE1[n] for n in names], k_percent=30.0, m=3)
    assert [names[i] for i in picked] == [7, 4, 5]


def test_n_dropped() -> None:
    assert n_dropped(7, 30.0) == 2  # floor(2.1)
    assert n_dropped(7, 0.0) == 0
    assert n_dropped(126, 5.0) == 6  # floor(6.3)
    with pytest.raises(ValueError, match="k_percent"):
        n_dropped(7, 100.0)


def _table1_set() -> tuple[torch.Tensor, list[int]]:
    """1-D texture features: sample 1 at 0, its positive 2 at 0.1, others at Table 1."""
    names = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    pos = {1: 0.0, 2: 0.1, **TABLE1}
    return torch.tensor([[pos[n]] for n in names]), names


def test_mine_triplets_reproduces_table1() -> None:
    feats, names = _table1_set()
    tri = mine_triplets(feats, torch.tensor([[0, 1]]), k_percent=30.0, m=3)
    assert [[names[i] for i in row] for row in tri.tolist()] == [[1, 2, 7], [1, 2, 4], [1, 2, 5]]


def test_mine_triplets_excludes_the_anchors_own_group() -> None:
    feats, names = _table1_set()
    pairs = torch.tensor([[0, 1]])
    # without groups, k=20%: floor(7 * 0.2) = 1 dropped (3) -> 6, 7, 4
    tri = mine_triplets(feats, pairs, k_percent=20.0, m=3)
    assert [names[i] for i in tri[:, 2].tolist()] == [6, 7, 4]
    # sample 3 comes from the anchor's own video: excluded, then floor(6 * 0.2) = 1 (6) dropped
    groups = torch.tensor([0, 0, 0, 1, 2, 3, 4, 5, 6])
    tri = mine_triplets(feats, pairs, k_percent=20.0, m=3, groups=groups)
    assert [names[i] for i in tri[:, 2].tolist()] == [7, 4, 5]


def test_mine_triplets_runs_out_of_candidates() -> None:
    feats = torch.tensor([[0.0], [0.1], [1.0], [2.0]])
    tri = mine_triplets(feats, torch.tensor([[0, 1], [1, 0]]), k_percent=0.0, m=5)
    # each pair has only two candidates (samples 2 and 3), nearest first
    assert tri.tolist() == [[0, 1, 2], [0, 1, 3], [1, 0, 2], [1, 0, 3]]
